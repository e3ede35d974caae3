"""MQTT ingest: paho-mqtt 2.x driven by the asyncio loop, handing messages to the pipeline.

- MQTT v5, a fixed client id, `clean_start=False` and a session expiry: the broker keeps
  our subscriptions and queues QoS 1 messages while we are away (a restart loses nothing).
- Manual acknowledgement: a QoS 1 message is acknowledged (PUBACK) only after the step
  that used it is committed to SQLite, so a crash before that makes the broker resend it.
  `Receive Maximum` bounds how many the broker sends before we acknowledge.
- paho runs on the gateway's asyncio loop, not on a thread of its own (paho's "external
  event loop" mode: `loop_read` / `loop_write` / `loop_misc` called from the loop's
  reader, writer and a 1 s timer). A thread of its own would fight the loop for the GIL
  at every message; on the loop, reading a burst of messages, deciding them and writing
  their acknowledgements happen without a hand-over between threads.
- paho asks the socket for each packet a field at a time (a byte for the type, a byte per
  length digit, then the rest): a system call each. `BufferedClient` reads what the socket
  has, 64 KiB at once, and serves paho from memory; it frames and decodes the common
  PUBLISH (QoS 0 or 1, no properties) itself, straight into a `Message`, where paho would
  read it a field at a time, build a properties object, a message object and match the
  topic against callback filters; and it queues a step's PUBACKs as one write instead
  of one packet (and system call) each.
  It relies on paho internals (gateway/ingest/client.py): start-up checks they are there
  and otherwise runs paho's public path (`PahoClient`), as `mqtt.fast_path=false` does.
- Connecting (which can block for the connect timeout when the broker is unreachable)
  runs in a worker thread; on a lost connection we connect again with a doubling delay
  and subscribe again in `on_connect` every time, whether or not the session survived.
- The hand-over is a bounded inbox: when it is full, we stop reading the socket (TCP
  back-pressure to the broker) until the pipeline has taken from it; each pause is counted.
- Caught up after a (re)connect: on each connection we publish a marker to ourselves,
  which the broker queues behind what it kept for our session; until it comes back, the
  ingest is not caught up and hold timers wait (gateway/ingest/sync.py).
- The gateway's own availability: `ROOT/v1/gateway/status` is `online` (retained) once
  connected, and the last will sets it to `offline`.
"""

from __future__ import annotations

import asyncio
import logging
import select
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.config import MqttSettings
from gateway.ingest.client import (
    BufferedClient,
    PahoClient,
    fast_path_problem,
    in_packet_problem,
    log_in,
)
from gateway.ingest.horizon import Arrivals
from gateway.ingest.sync import SyncMarker
from gateway.runtime.stats import Health

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600
RECEIVE_MAXIMUM = 2000  # QoS 1 messages the broker may send before we acknowledge
READ_BURST = 1000  # messages read in one go before the loop runs anything else
MISC_EVERY_S = 1.0  # keepalive pings and their timeout
STOP_FLUSH_S = 2.0


class Message(NamedTuple):
    topic: str
    payload: bytes
    received_at: datetime
    mid: int
    qos: int
    dup: bool = False  # the broker sends it again (after a reconnect): maybe applied already
    link: int = 0  # the connection it came on: a packet id means something on that one only


class Inbox:
    """Messages read and not yet taken by the pipeline; all on the loop's thread."""

    def __init__(self, capacity: int, health: Health) -> None:
        self.capacity = capacity
        self._items: list[Message] = []
        self._ready = asyncio.Event()
        self._health = health
        self._on_room: list[Callable[[], None]] = []
        self.received = 0  # messages put in since the start
        self.taken = 0  # messages taken out since the start

    def __len__(self) -> int:
        return len(self._items)

    @property
    def is_full(self) -> bool:
        return len(self._items) >= self.capacity

    def put(self, message: Message) -> None:
        self._items.append(message)
        self.received += 1
        self._ready.set()

    def oldest_received_at(self) -> datetime | None:
        """When the oldest message still waiting arrived (None: none waits)."""
        return self._items[0].received_at if self._items else None

    def when_room(self, callback: Callable[[], None]) -> None:
        """Call `callback()` once the pipeline has taken messages (reading paused)."""
        self._health.ingest.inbox_full_waits += 1
        self._on_room.append(callback)

    async def wait(self) -> None:
        """Until at least one message waits."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()

    def take_now(self, limit: int) -> list[Message]:
        """Up to `limit` of the messages waiting, oldest first (maybe none)."""
        out = self._items[:limit]
        del self._items[:limit]
        self.taken += len(out)
        if self._on_room and not self.is_full:
            waiting, self._on_room = self._on_room, []
            for callback in waiting:
                callback()
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
        # the marker of a caught-up connection: ours alone, by client id
        self._sync = SyncMarker(f"{settings.topic_root}/v1/gateway/sync/{settings.client_id}")
        client = self._new_client()
        log_in(client, settings)
        client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_publish_packet = self._on_publish_packet
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        self._client = client
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._sock: Any = None
        self._fd = -1
        self._is_reading = False
        self._lost = asyncio.Event()
        self._is_stopping = False
        self._task: asyncio.Task[None] | None = None
        self._now = datetime.now(UTC)  # arrival stamp of the burst being read
        self._arrivals = Arrivals()  # what came, and the drains (see `horizon`)
        self._unacked = 0  # QoS 1 messages taken and not yet acknowledged
        self._link = 0  # counts connections

    def horizon(self, now: datetime) -> datetime | None:
        """The latest instant by which every message that had arrived was applied (what
        the pipeline took from the inbox is applied: `Arrivals`); None: none yet. Never
        from a start or a (re)connect until this connection's marker came (what the
        broker queued for us while we were away is ahead of it). While not connected
        nothing arrives: `now` once the inbox is empty, so that timers never wait for a
        broker that is down."""
        if self._sync.is_waiting():
            return None
        inbox = self._inbox
        if not len(inbox) and (self._sock is None or self._is_quiet()):
            self._arrivals.drained(now, inbox.received)  # nothing waits anywhere: as of now
            return now
        return self._arrivals.until(inbox.taken)

    def _is_quiet(self) -> bool:
        """No byte waits to be read, and the broker holds nothing back for us."""
        if not self._is_reading or self._more_waiting() or not self._may_drain():
            return False
        readable, _, _ = select.select([self._fd], [], [], 0)
        return not readable

    def _may_drain(self) -> bool:
        """Whether a socket read to the end says the broker sent all it had: not while
        many messages wait for our acknowledgement (with Receive Maximum reached, the
        broker holds more back until we acknowledge), nor before the marker came."""
        return self._unacked < RECEIVE_MAXIMUM // 2 and not self._sync.is_waiting()

    def _new_client(self) -> PahoClient:
        """The fast path when paho has what it relies on (gateway/ingest/client.py), else
        paho's public path, said once in the log."""
        options: dict[str, Any] = {
            "client_id": self._settings.client_id,
            "protocol": MQTTProtocolVersion.MQTTv5,
            "manual_ack": True,
        }
        if not self._settings.fast_path:
            log.info("mqtt_fast_path_disabled reason=%s", "the settings (mqtt.fast_path=false)")
            return PahoClient(CallbackAPIVersion.VERSION2, **options)
        fast = BufferedClient(CallbackAPIVersion.VERSION2, **options)
        problem = fast_path_problem(fast)
        if problem is None:
            return fast
        log.warning("mqtt_fast_path_disabled reason=%s (paho's public path: slower)", problem)
        return PahoClient(CallbackAPIVersion.VERSION2, **options)

    @property
    def path(self) -> str:
        """`fast` (BufferedClient) or `public` (paho's own reading and acknowledging)."""
        return "fast" if self._client.is_fast else "public"

    # ---- life cycle ----------------------------------------------------------------

    def start(self) -> None:
        """Connect and keep connected (on the running loop)."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._task = self._loop.create_task(self._run(), name="mqtt")
        log.info(
            "mqtt_connecting host=%s port=%s client_id=%s path=%s",
            self._settings.host,
            self._settings.port,
            self._settings.client_id,
            self.path,
        )

    async def stop(self) -> None:
        """Say `offline`, disconnect cleanly, stop reconnecting."""
        self._is_stopping = True
        if self._client.is_connected():
            self._client.publish(self.status_topic, b"offline", qos=1, retain=True)
            self._client.disconnect()
            try:  # the writer sends both, then paho closes the socket
                await asyncio.wait_for(self._lost.wait(), STOP_FLUSH_S)
            except TimeoutError:
                log.warning("mqtt_disconnect_unsent (closing anyway)")
        if self._task is not None:
            self._task.cancel()
        sock = self._sock
        if sock is not None:  # the broker did not let the DISCONNECT through in time
            self._closed(sock)
            sock.close()

    async def _run(self) -> None:
        delay = self._settings.reconnect_min_s
        misc = asyncio.create_task(self._misc())
        try:
            while not self._is_stopping:
                self._lost.clear()
                try:
                    await asyncio.to_thread(self._connect)
                except (OSError, ValueError) as exc:
                    self._sync.stop_waiting()  # the broker is down: nothing can arrive
                    self._health.is_broker_connected = False
                    self._health.broker_error = f"cannot connect: {exc}"
                    log.warning("mqtt_connect_failed reason=%s retry_in_s=%.0f", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._settings.reconnect_max_s)
                    continue
                await self._lost.wait()
                if self._health.broker_error is None or not self._health.broker_error.startswith(
                    "connect refused"
                ):
                    delay = self._settings.reconnect_min_s  # it was up: start again quickly
                if not self._is_stopping:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._settings.reconnect_max_s)
        finally:
            misc.cancel()

    def _connect(self) -> None:
        """In a worker thread: open the socket, send CONNECT (paho's own connect)."""
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho leaves it unannotated
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
        rc = self._client.connect(
            self._settings.host,
            self._settings.port,
            keepalive=self._settings.keepalive_s,
            clean_start=False,
            properties=properties,
        )
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise OSError(f"paho connect: {mqtt.error_string(rc)}")

    async def _misc(self) -> None:
        while True:
            await asyncio.sleep(MISC_EVERY_S)
            if self._sock is not None:
                self._client.loop_misc()

    # ---- the socket, on the loop ----------------------------------------------------

    def _on_loop(self, fn: Any, *args: Any) -> None:
        assert self._loop is not None  # noqa: S101  # set by start()
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._opened, sock)

    def _opened(self, sock: Any) -> None:
        self._client.reset_buffer()
        self._unacked = 0  # what the last connection left unacknowledged comes again
        self._link += 1
        self._sync.opened()  # timers wait until this connection's marker comes back
        if self._client.is_fast and (problem := in_packet_problem(self._client)):
            self._client.is_fast = False  # overrides that only hand over to paho's own
            log.warning("mqtt_fast_path_disabled reason=%s (paho's public path: slower)", problem)
        self._sock = sock
        self._fd = sock.fileno()
        self._resume()

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._closed, sock)

    def _closed(self, sock: Any) -> None:
        assert self._loop is not None  # noqa: S101
        if self._sock is not sock:
            return  # an older socket, already forgotten
        # by number: paho may have closed the socket by the time this runs
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._is_reading = False
        self._sock = None
        self._fd = -1
        self._sync.stop_waiting()  # nothing arrives until we connect again
        self._health.is_broker_connected = False
        self._lost.set()

    def _on_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._want_write, sock)

    def _want_write(self, sock: Any) -> None:
        assert self._loop is not None  # noqa: S101
        if sock is self._sock:
            self._loop.add_writer(self._fd, self._client.loop_write)

    def _on_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._no_write, sock)

    def _no_write(self, sock: Any) -> None:
        assert self._loop is not None  # noqa: S101
        if sock is self._sock:
            self._loop.remove_writer(self._fd)

    def _resume(self) -> None:
        assert self._loop is not None  # noqa: S101
        if self._sock is not None and not self._is_reading:
            self._loop.add_reader(self._fd, self._readable)
            self._is_reading = True
            if self._client.has_buffered:
                self._loop.call_soon(self._readable)

    def _pause(self) -> None:
        assert self._loop is not None  # noqa: S101
        if self._is_reading and self._sock is not None:
            self._loop.remove_reader(self._fd)
        self._is_reading = False
        self._inbox.when_room(self._resume)

    def _readable(self) -> None:
        """Read packets while there are bytes: up to READ_BURST messages, then let the
        loop breathe (what is left in the buffer is read on the next turn)."""
        if not self._is_reading or self._sock is None:
            return
        self._now = datetime.now(UTC)  # one arrival stamp per burst read
        client = self._client
        inbox = self._inbox
        for _ in range(READ_BURST):
            before = len(inbox)
            rc = client.loop_read()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or self._sock is None:
                return  # paho has closed the connection and told on_disconnect
            if inbox.is_full:
                self._pause()
                return
            if len(inbox) == before and not self._more_waiting():
                if self._may_drain():
                    self._arrivals.drained(self._now, inbox.received)
                return  # the socket had no more (or only a control packet)
        if self._more_waiting():
            assert self._loop is not None  # noqa: S101
            self._loop.call_soon(self._readable)

    def _more_waiting(self) -> bool:
        """Bytes epoll does not see: in our buffer, or decrypted and held by TLS."""
        if self._client.has_buffered:
            return True
        pending = getattr(self._sock, "pending", None)
        return pending is not None and pending() > 0

    # ---- acknowledgements ------------------------------------------------------------

    def ack(self, messages: list[Message]) -> None:
        """Acknowledge messages whose effects are committed (queued; the writer sends)."""
        if self._sock is None:
            return  # the connection they came on is gone: the broker sends them again
        # a message of an earlier connection comes again on this one under another packet
        # id; its own id may now name another message, not yet committed: never ack it
        current = [m for m in messages if m.link == self._link]
        mids = [m.mid for m in current if m.qos == 1]
        self._unacked = max(0, self._unacked - len(mids))
        self._client.ack_all(mids)
        for m in current:
            if m.qos == 2:  # QoS 2: paho's own exchange
                self._client.ack(m.mid, m.qos)

    # ---- paho callbacks (on the loop) -----------------------------------------------

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
        # healthy once the broker has confirmed the subscriptions (on_subscribe): until
        # then a reading published would not reach us
        self._health.broker_error = None
        # Subscribe every time: a broker that lost our session (restart without
        # persistence) would otherwise leave us connected and deaf.
        topics: list[tuple[str, int]] = [(t, self._settings.qos) for t in self._subscriptions]
        client.subscribe([*topics, (self._sync.topic, 1)])
        client.publish(self.status_topic, b"online", qos=1, retain=True)
        # after the SUBSCRIBE on the same connection: the broker has the subscription when
        # it takes the marker, and queues it behind what it held for our session
        client.publish(self._sync.topic, self._sync.token, qos=1)
        log.info(
            "mqtt_connected session_present=%s topics=%s",
            flags.session_present,
            ",".join(self._subscriptions),
        )

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        *codes, sync_code = reason_codes
        if sync_code.is_failure:  # no marker will come: do not wait for it
            self._sync.stop_waiting()
            log.warning("mqtt_sync_refused topic=%s reason=%s", self._sync.topic, sync_code)
        refused = [
            f"{topic}: {code}"
            for topic, code in zip(self._subscriptions, codes, strict=False)
            if code.is_failure
        ]
        if refused:
            self._health.broker_error = "subscription refused: " + "; ".join(refused)
            log.error("mqtt_subscribe_refused %s", "; ".join(refused))
        self._health.is_broker_connected = not refused  # refused: connected but deaf

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
        if not self._is_stopping:
            log.warning("mqtt_disconnected reason=%s (connecting again with backoff)", reason_code)
        self._on_loop(self._lost.set)

    def _synced(self, payload: bytes, mid: int, qos: int) -> None:
        """A marker came (this connection's or an older one's): acknowledged at once, not
        in the order of the messages before it (brokers match a PUBACK by its packet id,
        and a marker has nothing to commit), and never handed to the pipeline."""
        if qos == 1:
            self._client.ack_all([mid])
        self._sync.arrived(payload)

    def _on_publish_packet(self, topic: str, payload: bytes, mid: int, qos: int, dup: bool) -> None:
        if topic == self._sync.topic:
            self._synced(payload, mid, qos)
            return
        self._unacked += qos == 1
        self._inbox.put(Message(topic, payload, self._now, mid, qos, dup, self._link))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == self._sync.topic:
            self._synced(bytes(message.payload), message.mid, message.qos)
            return
        self._unacked += message.qos == 1
        self._inbox.put(
            Message(
                message.topic,
                bytes(message.payload),
                self._now,
                message.mid,
                message.qos,
                bool(message.dup),
                self._link,
            )
        )
