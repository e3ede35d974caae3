"""MQTT upstream: publish each alert event to a district platform's broker (paho 2.x).

The payload is the notice JSON (`version`, `event`, `alert`, and `escalation_level` when
set; never the recipients' phones) on a topic from a template such as
`district/{district_id}/alerts/{severity}` (fields: config.MQTT_TOPIC_FIELDS).

The connection is opened on the first delivery and kept; paho's network thread reconnects
on its own. A publish is delivered once the broker's PUBACK (QoS 1) arrives within
`timeout_s`; no connection, or no PUBACK in time, is a RETRY. QoS 1 is at least once:
after a lost PUBACK the platform may see a message twice and should drop repeats by
(alert.id, event).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.channels import text
from gateway.channels.base import Outcome, Result
from gateway.config import MqttChannel
from gateway.store.records import Delivery

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
KEEPALIVE_S = 30


def topic_for(template: str, notice: text.Notice) -> str:
    fields = {
        "district_id": notice.location_id("district"),
        "street_id": notice.location_id("street"),
        "community_id": notice.location_id("community"),
        "grid_id": notice.location_id("grid"),
        "severity": notice.severity,
        "event": notice.event.removeprefix("alert.").replace(".", "_"),
        "rule": str(notice.alert.get("rule", "")),
    }
    # a '+', '#' or '/' inside a value would change the topic's meaning
    safe = {
        k: (v.replace("/", "_").replace("+", "_").replace("#", "_") or "-")
        for k, v in fields.items()
    }
    return template.format(**safe)


class MqttUpstream:
    def __init__(self, settings: MqttChannel) -> None:
        self.name = settings.name
        self._settings = settings
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self._connecting = asyncio.Lock()
        # mid -> future awaiting its PUBACK; acks that beat their registration wait in _acked
        self._lock = threading.Lock()
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._acked: set[int] = set()

    async def deliver(self, delivery: Delivery) -> Result:
        try:
            notice = text.parse(delivery.body)
        except ValueError as exc:
            return Result(Outcome.GIVE_UP, f"unreadable body: {exc}")
        payload: dict[str, Any] = {
            "version": json.loads(delivery.body).get("version", 1),
            "event": notice.event,
            notice.subject: notice.alert,  # "alert", or "case" for a case event
        }
        if notice.escalation_level is not None:
            payload["escalation_level"] = notice.escalation_level
        topic = topic_for(self._settings.topic_template, notice)
        timeout_s = self._settings.timeout_s
        client = await self._connect()
        try:
            async with asyncio.timeout(timeout_s):
                await self._connected.wait()
        except TimeoutError:
            return Result(Outcome.RETRY, f"not connected to {self._where()} within {timeout_s} s")
        data = json.dumps(payload, ensure_ascii=False).encode()
        info = client.publish(topic, data, qos=self._settings.qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return Result(Outcome.RETRY, f"publish failed: {mqtt.error_string(info.rc)}")
        if self._settings.qos == 0:
            return Result(Outcome.DELIVERED, f"published to {topic} (QoS 0)")
        acked = self._await_ack(info.mid)
        try:
            async with asyncio.timeout(timeout_s):
                await acked
        except TimeoutError:
            with self._lock:
                self._pending.pop(info.mid, None)
            return Result(Outcome.RETRY, f"no PUBACK from {self._where()} within {timeout_s} s")
        return Result(Outcome.DELIVERED, f"PUBACK for {topic}")

    def _await_ack(self, mid: int) -> asyncio.Future[None]:
        assert self._loop is not None  # noqa: S101  # set by _connect, which ran first
        future: asyncio.Future[None] = self._loop.create_future()
        with self._lock:
            if mid in self._acked:
                self._acked.discard(mid)
                future.set_result(None)
            else:
                self._pending[mid] = future
        return future

    async def _connect(self) -> mqtt.Client:
        async with self._connecting:
            if self._client is not None:
                return self._client
            s = self._settings
            self._loop = asyncio.get_running_loop()
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=s.client_id or f"gridgate-upstream-{s.name}-{uuid.uuid4().hex[:8]}",
            )
            if s.username is not None:
                password = s.password.get_secret_value() if s.password else None
                client.username_pw_set(s.username, password)
            if s.tls:
                context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
                client.tls_set_context(context)
            client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
            client.on_connect = self._on_connect
            client.on_disconnect = self._on_disconnect
            client.on_publish = self._on_publish
            client.connect_async(s.host, s.port, keepalive=KEEPALIVE_S)
            client.loop_start()
            self._client = client
            log.info("mqtt_upstream_connecting channel=%s broker=%s", s.name, self._where())
            return client

    def _where(self) -> str:
        return f"{self._settings.host}:{self._settings.port}"

    # paho's network thread: hand over to the loop, touch nothing else

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("mqtt_upstream_refused channel=%s reason=%s", self.name, reason)
            return
        log.info("mqtt_upstream_connected channel=%s broker=%s", self.name, self._where())
        self._call(self._connected.set)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        log.warning("mqtt_upstream_disconnected channel=%s reason=%s", self.name, reason)
        self._call(self._connected.clear)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._lock:
            future = self._pending.pop(mid, None)
            if future is None:
                self._acked.add(mid)
                if len(self._acked) > 10_000:  # acks of publishes that timed out
                    self._acked.clear()
                return
        self._call(lambda: None if future.done() else future.set_result(None))

    def _call(self, callback: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)
