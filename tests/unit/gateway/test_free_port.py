"""free_port: ports the tests' servers keep across their own restarts.

The suite runs in several processes that each start brokers, gateways and receivers, and
restart them on the port they were given; a port handed to one must not reach another,
nor be taken by an outgoing connection, while its owner is between a stop and a start.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gateway.runtime import broker
from gateway.runtime.broker import free_port

_OTHER = (
    "import json\n"
    "from gateway.runtime.broker import free_port\n"
    "print(json.dumps([free_port() for _ in range(200)]))"
)


def test_no_port_is_handed_out_twice_by_one_process() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)


def test_ports_stay_below_the_kernels_ephemeral_range() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in (free_port() for _ in range(50)):
        assert broker.PORTS_FROM <= port < low


def test_processes_running_at_once_never_share_a_port() -> None:
    mine = {free_port() for _ in range(200)}
    others = [
        subprocess.Popen([sys.executable, "-c", _OTHER], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    theirs: list[set[int]] = []
    for process in others:
        out, _ = process.communicate(timeout=60)
        theirs.append(set(json.loads(out)))
    everyone = [mine, *theirs]
    assert sum(len(ports) for ports in everyone) == len(set().union(*everyone))
