"""A load publisher: door readings at a fixed rate, in a process of its own.

Every message is a native gridgate reading stamped with the wall clock at sending. Most
are re-reports of a closed door (heartbeats) spread round-robin over `device_ids`; the
`incidents` doors are opened at their instant and left open, with no heartbeat
meanwhile, so each is a door_left_open the gateway must raise. QoS 1 with a
large in-flight window; 127.0.0.1 only; bounded by `duration_s`.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

MAX_INFLIGHT = 5000
TICK_S = 0.002


@dataclass(frozen=True)
class Step:
    port: int
    root: str
    device_ids: list[str]
    rate: float
    duration_s: float
    incidents: list[tuple[str, float]]  # (device_id, open at this many seconds in)
    client_id: str


def _payload(is_open: bool) -> bytes:
    at = datetime.now(UTC).isoformat(timespec="milliseconds")
    state = b"true" if is_open else b"false"
    return b'{"kind":"door","event_at":"' + at.encode() + b'","fields":{"open":' + state + b"}}"


def run(step: Step, out: Connection) -> None:
    """Publish for `duration_s`; send back (sent, elapsed_s, opens: [(device_id, event_at)])."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=step.client_id, protocol=MQTTProtocolVersion.MQTTv311
    )
    client.max_inflight_messages_set(MAX_INFLIGHT)
    client.max_queued_messages_set(0)
    acked = threading.Semaphore(0)
    client.on_publish = lambda *_args: acked.release()
    client.connect("127.0.0.1", step.port)
    client.loop_start()
    held = {d for d, _ in step.incidents}
    pool = itertools.cycle([d for d in step.device_ids if d not in held])
    pending = sorted(step.incidents, key=lambda i: i[1])
    opens: list[tuple[str, str]] = []
    topic = step.root + "/v1/{}/reading"
    sent = 0
    t0 = time.monotonic()
    while True:
        elapsed = time.monotonic() - t0
        if elapsed >= step.duration_s:
            break
        while pending and pending[0][1] <= elapsed:
            device_id, _ = pending.pop(0)
            payload = _payload(True)
            client.publish(topic.format(device_id), payload, qos=1)
            opens.append((device_id, payload.split(b'"')[7].decode()))
            sent += 1
        due = int(elapsed * step.rate) - sent
        if due <= 0:
            time.sleep(TICK_S)
            continue
        payload = _payload(False)  # one stamp per burst: cheap, and never goes backwards
        for _ in range(min(due, 2000)):
            client.publish(topic.format(next(pool)), payload, qos=1)
            sent += 1
    elapsed = time.monotonic() - t0
    # the incident doors stay open: their alerts fall due after the step (the next step's
    # heartbeats close them again)
    deadline = time.monotonic() + 30
    for _ in range(sent):
        if not acked.acquire(timeout=max(0.0, deadline - time.monotonic())):
            break
    client.disconnect()
    client.loop_stop()
    out.send((sent, elapsed, opens))
    out.close()
