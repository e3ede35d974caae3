"""Send planned messages to an MQTT broker at the instants they were planned for.

Message i leaves when the monotonic clock reaches `t0 + (msg.at - start_at) / speed`;
`event_at` in the payload stays the simulated instant. QoS 1, readings not retained,
availability `online` retained for every device at the start. The simulator's own status
topic carries `online`, with `offline` as the last will and on a clean stop. At the end the
publisher waits (bounded) until the broker has acknowledged every QoS 1 publish.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from simulator.behaviour import Message
from simulator.errors import PublishError
from simulator.topics import ONLINE, availability_topic, reading_topic, status_topic

log = logging.getLogger(__name__)
QOS = 1


@dataclass(frozen=True)
class Broker:
    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str = "gridgate-sim"
    keepalive_s: int = 30


@dataclass(frozen=True)
class PublishReport:
    readings_sent: int
    availability_sent: int
    acknowledged: int
    is_stopped_early: bool
    elapsed_s: float

    def summary(self) -> str:
        how = "stopped" if self.is_stopped_early else "done"
        return (
            f"simulator {how}: {self.readings_sent} readings and {self.availability_sent} "
            f"availability messages sent, {self.acknowledged} acknowledged, "
            f"in {self.elapsed_s:.1f} s"
        )


class _Acks:
    """Counts PUBACKs from paho's network thread; the main thread waits on it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.count = 0

    def on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        with self._cond:
            self.count += 1
            self._cond.notify_all()

    def wait_for(self, total: int, timeout_s: float) -> int:
        with self._cond:
            self._cond.wait_for(lambda: self.count >= total, timeout=timeout_s)
            return self.count


def encode(payload: dict[str, object]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def publish(
    messages: Iterable[Message],
    *,
    device_ids: Sequence[str],
    broker: Broker,
    start_at: datetime,
    topic_root: str = "gridgate",
    speed: float = 1.0,
    end_at: datetime | None = None,
    stop: threading.Event | None = None,
    connect_timeout_s: float = 10.0,
    drain_timeout_s: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
) -> PublishReport:
    """Publish until the messages run out, `end_at` (simulated) is reached or `stop` is set."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    stop = stop or threading.Event()
    client, acks = _connect(broker, topic_root, connect_timeout_s)
    t0 = clock()
    sent = availability = 0
    try:
        client.publish(status_topic(topic_root), ONLINE, qos=QOS, retain=True)
        for device_id in device_ids:
            client.publish(availability_topic(topic_root, device_id), ONLINE, qos=QOS, retain=True)
            availability += 1
        for message in messages:
            if end_at is not None and message.at >= end_at:
                break
            if _wait_until(t0 + (message.at - start_at).total_seconds() / speed, clock, stop):
                break
            client.publish(
                reading_topic(topic_root, message.device_id), encode(message.payload), qos=QOS
            )
            sent += 1
        if end_at is not None and not stop.is_set():
            _wait_until(t0 + (end_at - start_at).total_seconds() / speed, clock, stop)
        client.publish(status_topic(topic_root), "offline", qos=QOS, retain=True)
        # status online + availability + readings + status offline
        acknowledged = acks.wait_for(sent + availability + 2, drain_timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()
    acknowledged_readings = max(0, min(sent, acknowledged - availability - 2))
    return PublishReport(sent, availability, acknowledged_readings, stop.is_set(), clock() - t0)


def _wait_until(due: float, clock: Callable[[], float], stop: threading.Event) -> bool:
    """Sleep until the monotonic instant `due`; True when `stop` was set meanwhile."""
    delay = due - clock()
    if delay > 0:
        return stop.wait(delay)
    return stop.is_set()


def _connect(broker: Broker, topic_root: str, timeout_s: float) -> tuple[mqtt.Client, _Acks]:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=broker.client_id,
        protocol=MQTTProtocolVersion.MQTTv311,
    )
    if broker.username is not None:
        client.username_pw_set(broker.username, broker.password)
    client.will_set(status_topic(topic_root), "offline", qos=QOS, retain=True)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    acks = _Acks()
    connected = threading.Event()
    refused: list[str] = []

    def on_connect(
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            refused.append(str(reason_code))
        else:
            log.info("simulator_connected host=%s port=%s", broker.host, broker.port)
        connected.set()

    client.on_connect = on_connect
    client.on_publish = acks.on_publish
    where = f"{broker.host}:{broker.port}"
    try:
        client.connect(broker.host, broker.port, keepalive=broker.keepalive_s)
    except OSError as exc:
        raise PublishError(f"cannot reach the broker at {where}: {exc}") from exc
    client.loop_start()
    if not connected.wait(timeout_s) or refused:
        client.disconnect()
        client.loop_stop()
        reason = refused[0] if refused else f"no answer within {timeout_s:.0f} s"
        raise PublishError(f"the broker at {where} refused the connection: {reason}")
    return client, acks
