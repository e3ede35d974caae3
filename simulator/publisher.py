"""Send planned messages to an MQTT broker at the instants they were planned for.

Message i leaves when the monotonic clock reaches `t0 + (msg.at - start_at) / speed`;
`event_at` in the payload stays the simulated instant. QoS 1, readings not retained,
availability `online` retained for every device at the start (and `offline`/`online` when
an incident takes a device away). The simulator's own status carries `online`, with
`offline` as the last will and on a clean stop. With `clock_every_s`, the simulated now is
published (QoS 0) on `{root}/v1/simulator/clock` that often in wall time, for a gateway
that runs on event time. At the end the publisher waits (bounded) until the broker has
acknowledged every QoS 1 publish.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from simulator.behaviour import Message
from simulator.errors import PublishError
from simulator.formats import Encoder, Format, as_bytes, encode
from simulator.progress import Progress
from simulator.topics import clock_topic

log = logging.getLogger(__name__)
QOS = 1
MAX_INFLIGHT = 1000  # paho's default of 20 caps a storm at a few thousand messages a second


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
    simulated_s: float = 0.0

    def summary(self) -> str:
        how = "stopped" if self.is_stopped_early else "done"
        return (
            f"simulator {how}: {self.readings_sent} readings and {self.availability_sent} "
            f"availability messages sent, {self.acknowledged} acknowledged, "
            f"in {self.elapsed_s:.1f} s"
        )

    def table(self) -> str:
        rate = self.readings_sent / self.elapsed_s if self.elapsed_s > 0 else 0.0
        rows = [
            ("readings sent", f"{self.readings_sent:,}"),
            ("availability sent", f"{self.availability_sent:,}"),
            ("readings acknowledged", f"{self.acknowledged:,}"),
            ("wall time", f"{self.elapsed_s:,.1f} s"),
            ("simulated time", f"{self.simulated_s:,.1f} s"),
            ("mean rate", f"{rate:,.0f} msg/s"),
        ]
        return "\n".join(f"  {name:<22}{value:>16}" for name, value in rows)


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


def publish(
    messages: Iterable[Message],
    *,
    device_ids: Sequence[str],
    broker: Broker,
    start_at: datetime,
    topic_root: str = "gridgate",
    output_format: Format = Format.NATIVE,
    lift_ids: Sequence[str] = (),
    speed: float = 1.0,
    end_at: datetime | None = None,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    clock_every_s: float | None = None,
    connect_timeout_s: float = 10.0,
    drain_timeout_s: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
) -> PublishReport:
    """Publish until the messages run out, `end_at` (simulated) is reached or `stop` is set."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    stop = stop or threading.Event()
    encoder = Encoder(output_format, topic_root, frozenset(lift_ids))
    client, acks = _connect(broker, encoder, connect_timeout_s)
    t0 = clock()
    sent = availability = qos1 = 0
    last_tick = t0
    simulated_at = start_at

    def put(topic: str, payload: bytes, *, retain: bool = False) -> None:
        nonlocal qos1
        client.publish(topic, payload, qos=QOS, retain=retain)
        qos1 += 1

    def tick(wall: float) -> None:
        nonlocal last_tick
        if clock_every_s is not None and wall - last_tick >= clock_every_s:
            last_tick = wall
            now_at = start_at + timedelta(seconds=(wall - t0) * speed)
            body = {"now": now_at.isoformat(timespec="milliseconds"), "speed": speed}
            client.publish(clock_topic(topic_root), encode(body), qos=0)

    try:
        put(*encoder.status(True), retain=True)
        for device_id in device_ids:
            topic, payload = encoder.availability(device_id, True)
            put(topic, as_bytes(payload), retain=True)
            availability += 1
        for message in messages:
            if end_at is not None and message.at >= end_at:
                break
            due = t0 + (message.at - start_at).total_seconds() / speed
            if _wait_until(due, clock, stop, tick):
                break
            topic, payload = encoder.wire(message)
            is_availability = message.topic == "availability"
            put(topic, as_bytes(payload), retain=is_availability)
            availability += is_availability
            sent += not is_availability
            simulated_at = message.at
            if progress is not None:
                progress.update(sent, simulated_at)
        if end_at is not None and not stop.is_set():
            _wait_until(t0 + (end_at - start_at).total_seconds() / speed, clock, stop, tick)
            simulated_at = end_at
        put(*encoder.status(False), retain=True)
        acknowledged = acks.wait_for(qos1, drain_timeout_s)
    finally:
        if progress is not None:
            progress.close()
        client.disconnect()
        client.loop_stop()
    acknowledged_readings = max(0, min(sent, acknowledged - (qos1 - sent)))
    return PublishReport(
        sent,
        availability,
        acknowledged_readings,
        stop.is_set(),
        clock() - t0,
        (simulated_at - start_at).total_seconds(),
    )


def _wait_until(
    due: float, clock: Callable[[], float], stop: threading.Event, tick: Callable[[float], None]
) -> bool:
    """Sleep until the monotonic instant `due` (waking each second for the clock topic);
    True when `stop` was set meanwhile."""
    while True:
        now = clock()
        tick(now)
        delay = due - now
        if delay <= 0:
            return stop.is_set()
        if stop.wait(min(delay, 1.0)):
            return True


def _connect(broker: Broker, encoder: Encoder, timeout_s: float) -> tuple[mqtt.Client, _Acks]:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=broker.client_id,
        protocol=MQTTProtocolVersion.MQTTv311,
    )
    if broker.username is not None:
        client.username_pw_set(broker.username, broker.password)
    will_topic, will_payload = encoder.status(False)
    client.will_set(will_topic, will_payload, qos=QOS, retain=True)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    client.max_inflight_messages_set(MAX_INFLIGHT)
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
