"""The naive baseline: what someone would write in an afternoon to do door_left_open alone.

    python bench/naive.py --port 1883 --url http://127.0.0.1:9000/hook --hold-s 2

One paho subscriber (paho-mqtt 2.x, its network loop on a thread of its own) on
`zigbee2mqtt/+`, a heap of hold timers, one POST per alert (version 1 body, http.client
keep-alive), nothing stored. An open (`contact: false`) schedules its due at event time +
hold (last_seen, else arrival); a repeated open keeps the first; a close cancels it and
POSTs a clear if it had raised.
"""

from __future__ import annotations

import argparse
import heapq
import http.client
import itertools
import json
import queue
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


def run(port: int, url: str, hold_s: float, counts: Any = None, ready: Any = None) -> None:
    """Until killed. `counts`: shared [messages taken, POSTs queued, POSTs sent] for the
    benchmark to see it drained; `ready`: set at SUBACK."""
    counts = counts if counts is not None else [0, 0, 0]
    lock = threading.Condition()
    heap: list[tuple[float, int, str]] = []
    doors: dict[str, dict[str, Any]] = {}  # device_id -> the open episode
    posts: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
    ids = itertools.count(1)

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        counts[0] += 1
        device_id = message.topic.split("/", 1)[1]
        body = json.loads(message.payload)
        at = (
            datetime.fromisoformat(body["last_seen"]).timestamp()
            if "last_seen" in body
            else time.time()
        )
        with lock:
            door = doors.get(device_id)
            if body.get("contact") is False and door is None:
                door = doors[device_id] = {"id": next(ids), "opened_at": at, "raised_at": None}
                heapq.heappush(heap, (at + hold_s, door["id"], device_id))
                if heap[0][1] == door["id"]:  # the new earliest: the timer thread must know
                    lock.notify()
            elif body.get("contact") is True and door is not None:
                del doors[device_id]
                if door["raised_at"] is not None:
                    counts[1] += 1
                    posts.put(("alert.cleared", {**door, "device_id": device_id, "cleared_at": at}))

    def timers() -> None:
        with lock:
            while True:
                if not heap:
                    lock.wait()
                    continue
                delay = heap[0][0] - time.time()
                if delay > 0:
                    lock.wait(delay)
                    continue
                _, alert_id, device_id = heapq.heappop(heap)
                door = doors.get(device_id)
                if door is not None and door["id"] == alert_id:
                    door["raised_at"] = time.time()
                    counts[1] += 1
                    posts.put(("alert.raised", {**door, "device_id": device_id}))

    def sender() -> None:
        target = urlsplit(url)
        conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=10)
        while True:
            event, door = posts.get()
            alert = {
                "id": door["id"], "rule": "door_left_open", "device_id": door["device_id"],
                "opened_at": _iso(door["opened_at"]), "due_at": _iso(door["opened_at"] + hold_s),
                "raised_at": _iso(door["raised_at"]), "cleared_at": _iso(door.get("cleared_at")),
            }  # fmt: skip
            body = json.dumps({"version": 1, "event": event, "alert": alert})
            headers = {
                "Content-Type": "application/json",
                "Idempotency-Key": f"alert-{door['id']}-{event.removeprefix('alert.')}-naive",
                "X-Gridgate-Event": event,
            }
            for _attempt in range(5):
                try:
                    conn.request("POST", target.path, body, headers)
                    conn.getresponse().read()
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()  # reconnects on the next request
                    time.sleep(0.1)
            counts[2] += 1

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id="naive-baseline",
        protocol=MQTTProtocolVersion.MQTTv311,
    )
    client.on_connect = lambda c, *_a: c.subscribe("zigbee2mqtt/+", qos=1)
    client.on_subscribe = lambda *_a: ready.set() if ready is not None else None
    client.on_message = on_message
    threading.Thread(target=timers, daemon=True).start()
    threading.Thread(target=sender, daemon=True).start()
    client.connect("127.0.0.1", port)
    client.loop_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--url", required=True)
    parser.add_argument("--hold-s", type=float, default=2.0)
    args = parser.parse_args()
    run(args.port, args.url, args.hold_s)


if __name__ == "__main__":
    main()
