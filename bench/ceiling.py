"""The ceiling: a bare paho subscriber that only parses each reading's JSON."""

from __future__ import annotations

import json
import threading
from multiprocessing.sharedctypes import Synchronized

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion


def run(port: int, root: str, received: Synchronized[int], ready: threading.Event) -> None:
    """Count parsed readings into `received` until the process is terminated."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"ceiling-{root}",
        protocol=MQTTProtocolVersion.MQTTv311,
    )

    def on_connect(c: mqtt.Client, *_args: object) -> None:
        c.subscribe(f"{root}/v1/+/reading", qos=1)

    def on_subscribe(*_args: object) -> None:
        ready.set()

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        json.loads(message.payload)
        with received.get_lock():
            received.value += 1

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_forever()
