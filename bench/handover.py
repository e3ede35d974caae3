"""What handing MQTT messages to another process costs the process that hands them over.

    python bench/handover.py                    # 100,000 Zigbee2MQTT door messages
    python bench/handover.py --batches 1,30,500

The question behind it (docs/benchmarks.md, "Measured before building"): deciding in two
processes, each owning half of the devices, needs the reading side to pass each message,
as MQTT delivered it, to the process that owns its device. This sends door traffic (opens,
closes, re-reports: bench/pipeline_micro.py's `traffic`) as the gateway's inbox holds it
(`gateway.ingest.mqtt.Message`) in batches, pickled over a socket pair to a child that
unpickles them, and reports the sender's CPU per message. Not the benchmark, and not a
design: a figure for one.
"""

from __future__ import annotations

import argparse
import os
import pickle
import socket
import sys
import time
from datetime import UTC, datetime
from itertools import islice
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pipeline_micro import traffic

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
    parser.add_argument("--doors", type=int, default=13_000)
    parser.add_argument("--held", type=float, default=0.25, help="share of opens held")
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
    doors = [f"door-{i:06d}" for i in range(args.doors)]
    stream = traffic(doors, args.held, datetime.now(UTC), rate=2_000)
    messages = list(islice(stream, args.messages))
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
