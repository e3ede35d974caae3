"""The city's consumer: every gateway's events from the city broker into PostgreSQL.

paho (MQTT v5) with a fixed client id, `clean_start` false and a week's session expiry,
so the city broker keeps what arrives while the city is down (with its persistence on,
across its own restarts too); QoS 1 with manual acknowledgements: a message is PUBACKed
only after the transaction that applied it commits. paho's thread only hands messages to
a queue; one applier thread takes them in arrival order, a batch at a time, parses each
(gateway/city/envelope.py: a bad one is a counted rejection, never an exception), applies
the batch in one transaction (gateway/city/store.py) and then acknowledges it. When the
database fails, the batch is tried again with a doubling delay and nothing is
acknowledged: a crash meanwhile gets the messages sent again, and (gateway, seq) makes
the second apply a counted redelivery.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from gateway.city.envelope import Event, Rejection, parse
from gateway.city.store import CityStore

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 86400
RECEIVE_MAXIMUM = 1000  # unacknowledged messages the broker may have in flight to us
BATCH = 500
BATCH_WAIT_S = 0.02
RETRY_MIN_S = 0.2
RETRY_MAX_S = 10.0
RELEASE_EVERY_S = 1.0


@dataclass
class CityCounts:
    received: int = 0
    applied: int = 0
    redeliveries: int = 0
    refused: int = 0  # about what the city owns
    superseded: int = 0
    held: int = 0  # waited for an earlier number (applied once it came)
    released: int = 0  # times the hold time ran out on a missing number
    rejected: Counter[str] = field(default_factory=Counter)
    store_errors: int = 0
    last_store_error: str | None = None
    connected: bool = False
    subscribed: bool = False


@dataclass(frozen=True)
class _Message:
    topic: str
    payload: bytes
    mid: int
    qos: int


class CityConsumer:
    def __init__(
        self,
        store: CityStore,
        *,
        host: str,
        port: int,
        topic_root: str,
        client_id: str,
        now: Callable[[], datetime],
        username: str | None = None,
        password: str | None = None,
        hold_s: float = 30.0,
    ) -> None:
        self._store = store
        self._hold = timedelta(seconds=hold_s)
        self._host, self._port = host, port
        self._root = topic_root
        self._now = now
        self.counts = CityCounts()
        self._inbox: queue.Queue[_Message] = queue.Queue()
        self._stopping = threading.Event()
        self._applier = threading.Thread(target=self._run, name="city-applier", daemon=True)
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if username is not None:
            client.username_pw_set(username, password)
        client.reconnect_delay_set(1, 10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client

    # ---- running ----------------------------------------------------------------------------

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho's
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self._client.connect_async(
            self._host, self._port, keepalive=30, clean_start=False, properties=props
        )
        self._client.loop_start()
        self._applier.start()
        log.info("city_consumer_started broker=%s:%d topic=%s/+", self._host, self._port,
                 self._root)  # fmt: skip

    def stop(self) -> None:
        self._stopping.set()
        self._applier.join(timeout=15)
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def is_ready(self) -> bool:
        return self.counts.connected and self.counts.subscribed

    # ---- paho's thread: hand over, nothing else ---------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("city_broker_refused reason=%s", reason)
            return
        self.counts.connected = True
        # resubscribe at every connect: a broker that lost the session forgot it
        client.subscribe(f"{self._root}/+", options=SubscribeOptions(qos=1))
        log.info("city_broker_connected session_present=%s", flags.session_present)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        self.counts.subscribed = all(not c.is_failure for c in codes)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.counts.connected = self.counts.subscribed = False
        log.warning("city_broker_disconnected reason=%s", reason)

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(_Message(message.topic, bytes(message.payload), message.mid,
                                 message.qos))  # fmt: skip

    # ---- the applier thread -----------------------------------------------------------------

    def _take(self) -> list[_Message]:
        try:
            first = self._inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + BATCH_WAIT_S
        while len(batch) < BATCH:
            left = deadline - time.monotonic()
            try:
                batch.append(self._inbox.get(timeout=max(0.0, left)) if left > 0 else
                             self._inbox.get_nowait())  # fmt: skip
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        release_at = time.monotonic() + RELEASE_EVERY_S
        while not self._stopping.is_set():
            batch = self._take()
            if batch:
                self._apply(batch)
            if time.monotonic() >= release_at:
                release_at = time.monotonic() + RELEASE_EVERY_S
                self._release()

    def _release(self) -> None:
        """Numbers missing for longer than the hold time are given up (counted)."""
        try:
            released = self._store.release_held(self._now() - self._hold)
        except Exception as exc:  # the database failing in any way: next time, never crash
            self.counts.store_errors += 1
            self.counts.last_store_error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("city_release_failed error=%s", self.counts.last_store_error)
            return
        if released:
            self.counts.released += released
            log.warning("city_gaps_given_up gateways=%d", released)

    def _apply(self, batch: list[_Message]) -> None:
        events: list[Event] = []
        rejections: list[tuple[str, Rejection]] = []
        for m in batch:
            parsed = parse(m.topic, m.payload, self._root)
            if isinstance(parsed, Rejection):
                rejections.append((m.topic, parsed))
            else:
                events.append(parsed)
        delay = RETRY_MIN_S
        while True:
            try:
                applied = self._store.apply(events, rejections, self._now())
                break
            except Exception as exc:  # the database failing in any way: retry, never crash
                counts = self.counts
                counts.store_errors += 1
                counts.last_store_error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("city_apply_failed messages=%d error=%s retry_in_s=%.1f",
                            len(batch), counts.last_store_error, delay)  # fmt: skip
                if self._stopping.wait(delay):
                    return  # not acknowledged: the broker sends them again
                delay = min(delay * 2, RETRY_MAX_S)
        counts = self.counts
        counts.last_store_error = None
        counts.received += len(batch)
        for _, rejection in rejections:
            counts.rejected[rejection.reason.value] += 1
        for a in applied:
            if a.outcome == "apply":
                counts.applied += 1
            elif a.outcome == "redelivery":
                counts.redeliveries += 1
            elif a.outcome == "city_owned":
                counts.refused += 1
            elif a.outcome == "superseded":
                counts.superseded += 1
            elif a.outcome == "held":
                counts.held += 1
            else:
                counts.rejected[a.outcome] += 1
        for m in batch:
            if m.qos > 0:
                self._client.ack(m.mid, m.qos)
