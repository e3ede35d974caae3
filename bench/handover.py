"""What handing MQTT messages to another process costs the process that hands them over.

    python bench/handover.py                    # 100,000 Zigbee2MQTT door messages
    python bench/handover.py --batches 1,30,500

The question behind it (docs/benchmarks.md, "Measured before building"): deciding in two
processes, each owning half of the devices, needs the reading side to pass each message,
as MQTT delivered it, to the process that owns its device. This sends the messages as the
gateway's inbox holds them (topic, payload bytes, arrival, packet id, QoS) in batches,
pickled over a socket pair to a child that unpickles them, and reports the sender's CPU
per message. Not the benchmark, and not a design: a figure for one.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import socket
import sys
import time
from multiprocessing.connection import Connection

STOP = b"stop"


def _receive(conn: Connection) -> None:
    """The child: unpickle every batch; answer with the count at the end."""
    count = 0
    while (blob := conn.recv_bytes()) != STOP:
        count += len(pickle.loads(blob))  # noqa: S301  # our own bytes, from our parent
    conn.send_bytes(str(count).encode())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batches", default="30,100,500", help="messages per hand-over")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]

    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the child: nothing but the receiving loop, then out
        ours.close()
        _receive(Connection(theirs.detach()))
        os._exit(0)
    theirs.close()
    conn = Connection(ours.detach())
    payload = json.dumps(
        {
            "battery": 87,
            "contact": False,
            "device_temperature": 26,
            "linkquality": 143,
            "voltage": 2995,
            "power_outage_count": 3,
            "last_seen": "2026-12-06T22:40:01.123+00:00",
        }
    ).encode()
    start = time.time()
    messages = [
        (f"zigbee2mqtt/door-{i:06d}", payload, start + i / 1000, i % 65535 + 1, 1)
        for i in range(args.messages)
    ]
    try:
        for batch in batches:
            began = time.process_time()
            for i in range(0, len(messages), batch):
                conn.send_bytes(pickle.dumps(messages[i : i + batch], protocol=5))
            spent = time.process_time() - began
            print(
                f"batches of {batch}: {1e6 * spent / len(messages):.2f} µs a message (sender CPU)"
            )
        conn.send_bytes(STOP)
        received = int(conn.recv_bytes())
    finally:
        os.waitpid(pid, 0)
    expected = len(messages) * len(batches)
    if received != expected:
        print(f"the child received {received:,} messages of {expected:,}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
