"""A stream of door readings to break things in the middle of, and how to count it back.

Every reading has its own event time and flips its door (open, closed, open, ...), so each
one applied is exactly one row of the device's history (`device_history`): counting those
rows in the gateway's SQLite file says how many readings were applied, and a repeated
event time says one was applied twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.runtime.broker import free_port

DOORS = tuple(f"door-b{b}-u{u}" for b in (1, 2, 3) for u in (1, 2))


class DoorStream:
    """A QoS 1 publisher of `count` door readings, published in slices by the test."""

    def __init__(self, port: int, topic_root: str, count: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"stream-{free_port()}")
        self.client.max_queued_messages_set(0)  # keep everything while the broker is away
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.topic_root = topic_root
        self.count = count
        self.sent = 0
        self.infos: list[mqtt.MQTTMessageInfo] = []
        # in the recent past, 1 ms apart: in order, and never "in the future"
        self.start_at = datetime.now(UTC) - timedelta(seconds=60)

    def is_open(self, i: int) -> bool:
        return (i // len(DOORS)) % 2 == 0

    def publish(self, upto: int) -> None:
        """Publish readings up to index `upto` (exclusive) without waiting for PUBACKs."""
        for i in range(self.sent, min(upto, self.count)):
            device = DOORS[i % len(DOORS)]
            event_at = self.start_at + timedelta(milliseconds=i)
            body = {
                "kind": "door",
                "event_at": event_at.isoformat(),
                "fields": {"open": self.is_open(i)},
            }
            topic = f"{self.topic_root}/v1/{device}/reading"
            self.infos.append(self.client.publish(topic, json.dumps(body), qos=1))
            self.sent = i + 1

    def last_states(self) -> dict[str, str]:
        """Where each door should stand once every reading is applied."""
        last = {DOORS[i % len(DOORS)]: self.is_open(i) for i in range(self.count)}
        return {d: "open" if is_open else "closed" for d, is_open in last.items()}

    def all_acknowledged(self) -> bool:
        return self.sent == self.count and all(i.is_published() for i in self.infos)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def applied(database: Path, devices: tuple[str, ...] = DOORS) -> tuple[int, int]:
    """(readings applied, of which applied more than once) according to the history rows."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as db:
        marks = ",".join("?" * len(devices))
        rows = db.execute(
            f"SELECT device_id, at FROM device_history WHERE device_id IN ({marks})",  # noqa: S608  # placeholders only
            devices,
        ).fetchall()
    counts = Counter((d, at) for d, at in rows)
    return len(rows), sum(n - 1 for n in counts.values())
