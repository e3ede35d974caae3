"""One kept MQTT connection that publishes and waits for the broker's PUBACKs (paho 2.x).

Shared by the MQTT upstream channel (gateway/channels/mqtt_upstream.py) and the city feed
(gateway/city/link.py). The connection is opened on the first publish and kept; paho's
network thread reconnects on its own. A publish counts once its PUBACK (QoS 1) arrives
within the timeout; no connection, or no PUBACK in time, is a RETRY for the outbox.
Several messages handed over together go out in that order on the one connection
(paho keeps its queue in order, Mosquitto forwards a client's QoS 1 messages in order).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.channels.base import Outcome, Result

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
KEEPALIVE_S = 30
# how long a publish waits for a connection before it answers RETRY: the outbox tries again
# later, and a stop is not held up by a broker that is away
CONNECT_WAIT_S = 2.0


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    client_id: str | None = None
    reconnect_max_s: int = RECONNECT_MAX_S


class MqttLink:
    def __init__(self, name: str, broker: Broker) -> None:
        self.name = name
        self._broker = broker
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self._connecting = asyncio.Lock()
        # mid -> future awaiting its PUBACK; acks that beat their registration wait in _acked
        self._lock = threading.Lock()
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._acked: set[int] = set()

    @property
    def where(self) -> str:
        return f"{self._broker.host}:{self._broker.port}"

    async def publish(
        self, messages: list[tuple[str, bytes]], qos: int, timeout_s: float
    ) -> Result:
        """Publish `messages` (topic, payload) in order; DELIVERED once every PUBACK came."""
        client = await self._connect()
        wait_s = min(timeout_s, CONNECT_WAIT_S)
        try:
            async with asyncio.timeout(wait_s):
                await self._connected.wait()
        except TimeoutError:
            return Result(Outcome.RETRY, f"not connected to {self.where} within {wait_s} s")
        mids: list[int] = []
        for topic, payload in messages:
            info = client.publish(topic, payload, qos=qos)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                self._forget(mids)
                return Result(Outcome.RETRY, f"publish failed: {mqtt.error_string(info.rc)}")
            mids.append(info.mid)
        last = messages[-1][0] if messages else "-"
        if qos == 0:
            return Result(Outcome.DELIVERED, f"published to {last} (QoS 0)")
        acks = [self._await_ack(mid) for mid in mids]
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.gather(*acks)
        except TimeoutError:
            self._forget(mids)
            return Result(Outcome.RETRY, f"no PUBACK from {self.where} within {timeout_s} s")
        return Result(Outcome.DELIVERED, f"PUBACK for {len(mids)} on {last}")

    def _forget(self, mids: list[int]) -> None:
        with self._lock:
            for mid in mids:
                self._pending.pop(mid, None)

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
            b = self._broker
            self._loop = asyncio.get_running_loop()
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=b.client_id or f"gridgate-{self.name}-{uuid.uuid4().hex[:8]}",
            )
            if b.username is not None:
                client.username_pw_set(b.username, b.password)
            if b.tls:
                context = ssl.create_default_context(cafile=str(b.ca_file) if b.ca_file else None)
                client.tls_set_context(context)
            # every message handed over goes out at once; the outbox bounds how many
            client.max_inflight_messages_set(0)
            client.max_queued_messages_set(0)
            client.reconnect_delay_set(RECONNECT_MIN_S, b.reconnect_max_s)
            client.on_connect = self._on_connect
            client.on_disconnect = self._on_disconnect
            client.on_publish = self._on_publish
            client.connect_async(b.host, b.port, keepalive=KEEPALIVE_S)
            client.loop_start()
            self._client = client
            log.info("mqtt_link_connecting name=%s broker=%s", self.name, self.where)
            return client

    # paho's network thread: hand over to the loop, touch nothing else

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("mqtt_link_refused name=%s reason=%s", self.name, reason)
            return
        log.info("mqtt_link_connected name=%s broker=%s", self.name, self.where)
        self._call(self._connected.set)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        log.warning("mqtt_link_disconnected name=%s reason=%s", self.name, reason)
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
