"""MQTT ingest: paho-mqtt 2.x on its own thread, handing messages to the asyncio loop.

- MQTT v5, a fixed client id, `clean_start=False` and a session expiry: the broker keeps
  our subscriptions and queues QoS 1 messages while we are away (a restart loses nothing).
- Manual acknowledgement: a QoS 1 message is acknowledged (PUBACK) only after the step
  that used it is committed to SQLite, so a crash before that makes the broker resend it.
- paho reconnects by itself with a doubling delay (`reconnect_delay_set`) and we
  subscribe again in `on_connect` every time, whether or not the session survived.
- The hand-over is a bounded inbox: when it is full, paho's thread waits (TCP back-pressure
  to the broker) instead of dropping; each wait is counted.
- The gateway's own availability: `ROOT/v1/gateway/status` is `online` (retained) once
  connected, and the last will sets it to `offline`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.config import MqttSettings
from gateway.stats import Health

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600
RECEIVE_MAXIMUM = 1000  # QoS 1 messages the broker may send before we acknowledge


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    received_at: datetime
    mid: int
    qos: int


class Inbox:
    """A bounded hand-over from one producer thread to the asyncio loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, capacity: int, health: Health) -> None:
        self._loop = loop
        self._items: deque[Message] = deque()
        self._slots = threading.Semaphore(capacity)
        self._ready = asyncio.Event()
        self._is_waiting = False
        self._health = health

    def put(self, message: Message) -> None:
        """Called from paho's thread; blocks while the inbox is full."""
        if not self._slots.acquire(blocking=False):
            self._health.ingest.inbox_full_waits += 1
            self._slots.acquire()
        self._items.append(message)
        if self._is_waiting:
            self._loop.call_soon_threadsafe(self._ready.set)

    async def take(self, limit: int) -> list[Message]:
        """Wait for at least one message; return up to `limit` of them."""
        while not self._items:
            self._is_waiting = True
            self._ready.clear()
            if self._items:  # arrived between the check and the flag
                break
            await self._ready.wait()
        self._is_waiting = False
        out: list[Message] = []
        while self._items and len(out) < limit:
            out.append(self._items.popleft())
            self._slots.release()
        return out


class MqttIngest:
    def __init__(
        self,
        settings: MqttSettings,
        subscriptions: list[str],
        inbox: Inbox,
        health: Health,
    ) -> None:
        self._settings = settings
        self._subscriptions = subscriptions
        self._inbox = inbox
        self._health = health
        self.status_topic = f"{settings.topic_root}/v1/gateway/status"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        if settings.username is not None:
            password = settings.password.get_secret_value() if settings.password else None
            client.username_pw_set(settings.username, password)
        if settings.tls:
            client.tls_set(
                ca_certs=str(settings.ca_file) if settings.ca_file else None,
                certfile=str(settings.cert_file) if settings.cert_file else None,
                keyfile=str(settings.key_file) if settings.key_file else None,
            )
            client.tls_insecure_set(settings.tls_insecure)
        client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        client.reconnect_delay_set(
            min_delay=max(1, round(settings.reconnect_min_s)),
            max_delay=max(1, round(settings.reconnect_max_s)),
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho leaves it unannotated
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
        self._client.connect_async(
            self._settings.host,
            self._settings.port,
            keepalive=self._settings.keepalive_s,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()
        log.info(
            "mqtt_connecting host=%s port=%s client_id=%s",
            self._settings.host,
            self._settings.port,
            self._settings.client_id,
        )

    def stop(self) -> None:
        if self._client.is_connected():
            self._client.publish(self.status_topic, b"offline", qos=1, retain=True)
        self._client.disconnect()
        self._client.loop_stop()

    def ack(self, messages: list[Message]) -> None:
        """Acknowledge messages whose effects are committed."""
        for m in messages:
            if m.qos > 0:
                self._client.ack(m.mid, m.qos)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self._health.is_broker_connected = False
            self._health.broker_error = f"connect refused: {reason_code}"
            log.warning("mqtt_connect_refused reason=%s", reason_code)
            return
        self._health.is_broker_connected = True
        self._health.broker_error = None
        # Subscribe every time: a broker that lost our session (restart without
        # persistence) would otherwise leave us connected and deaf.
        topics: list[tuple[str, int]] = [(t, self._settings.qos) for t in self._subscriptions]
        client.subscribe(topics)
        client.publish(self.status_topic, b"online", qos=1, retain=True)
        log.info(
            "mqtt_connected session_present=%s topics=%s",
            flags.session_present,
            ",".join(self._subscriptions),
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._health.is_broker_connected = False
        refused = (self._health.broker_error or "").startswith("connect refused")
        if not refused:  # a refusal (bad password) says more than the disconnect after it
            self._health.broker_error = f"disconnected: {reason_code}"
        log.warning("mqtt_disconnected reason=%s (paho reconnects with backoff)", reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(
            Message(
                topic=message.topic,
                payload=bytes(message.payload),
                received_at=datetime.now(UTC),
                mid=message.mid,
                qos=message.qos,
            )
        )
