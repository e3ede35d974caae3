"""The real Mosquitto for simulator tests, and an MQTT subscriber that records.

The broker is the session's (tests/conftest.py); each test has its own topic root.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gateway.runtime.broker import LocalBroker
from tests.support import wait_until

SUBSCRIBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Mosquitto:
    host: str
    port: int
    pid: int
    log: Path


Wait = Callable[[Callable[[], bool], float, str], None]


@pytest.fixture
def wait_for() -> Wait:
    """`wait_for(condition, timeout_s, what)`: poll against a deadline, never a bare sleep."""

    def wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        wait_until(condition, timeout_s, what)

    return wait


@pytest.fixture
def mosquitto(broker: LocalBroker) -> Mosquitto:
    """The session's real Mosquitto (tests/conftest.py); topic roots keep tests apart."""
    assert broker.pid is not None
    return Mosquitto("127.0.0.1", broker.port, broker.pid, broker.directory / "mosquitto.log")


@dataclass
class Recorder:
    """Messages received by a subscriber, in arrival order (thread-safe appends)."""

    received: list[mqtt.MQTTMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> list[mqtt.MQTTMessage]:
        with self.lock:
            return list(self.received)


@pytest.fixture
def subscriber(mosquitto: Mosquitto, topic_root: str) -> Iterator[Recorder]:
    """Subscribed to `{topic_root}/#` (QoS 1) before the test body runs."""
    recorder = Recorder()
    subscribed = threading.Event()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"rec-{topic_root}",
        protocol=MQTTProtocolVersion.MQTTv311,
    )

    def on_connect(
        c: mqtt.Client, userdata: object, flags: object, rc: object, props: object
    ) -> None:
        c.subscribe(f"{topic_root}/#", qos=1)

    def on_subscribe(
        c: mqtt.Client, userdata: object, mid: int, rcs: object, props: object
    ) -> None:
        subscribed.set()

    def on_message(c: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with recorder.lock:
            recorder.received.append(message)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        wait_until(subscribed.is_set, SUBSCRIBE_TIMEOUT_S, "the subscription")
        yield recorder
    finally:
        client.disconnect()
        client.loop_stop()
