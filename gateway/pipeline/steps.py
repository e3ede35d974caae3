"""The hot path: messages → readings → device state → rule engine → one store write.

Two tasks feed it, both on the asyncio loop: ingest (batches of MQTT messages) and the
timer (hold conditions coming due with no message at all). Each step runs under one lock,
so the engine's decisions reach SQLite in the order they were made, and each step is one
transaction. MQTT messages are acknowledged only after their step is committed.

One thing is written later than its step: what a repeated report moves (a sensor saying
again what it said last, which is most of the traffic): the device's two instants and
its offline watches (rule tracks that every report moves forward). Those are collected
and written from `SEEN_FLUSH_S` on, each device once however many times it repeated
itself meanwhile (rewriting a row per heartbeat cost more than all the rest of a step),
`SEEN_CHUNK` devices per step so that no step grows long and holds up a timer. A crash
loses about that long of them: an offline watch restored a second behind can only fall
due a second early, for a device already silent for its kind's whole limit; never a state
change, an alert or any other track. A stop writes them all.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from gateway.alerts.escalation import AlertPolicy
from gateway.errors import StoreUnavailable
from gateway.ingest.mqtt import Inbox, Message
from gateway.pipeline.devices import DeviceState, advance, is_duplicate, repeat
from gateway.places.registry import Registry
from gateway.places.site import Placement, node_placement
from gateway.runtime.clock import Clock, EventClock, wait_or_timeout
from gateway.runtime.stats import Health
from gateway.store.db import Batch, RaisedEvent, Route, Sighting, Store
from rules.engine import AlertEvent, Engine, EventType, TrackKey
from rules.model import RuleFile
from sensors.adapt import AdapterSet
from sensors.kinds import KINDS, Kind
from sensors.reading import Reading, Rejection, RejectReason

log = logging.getLogger(__name__)

BATCH_LIMIT = 500
SEEN_FLUSH_S = 1.0
SEEN_CHUNK = 500


@dataclass(frozen=True)
class Accepted:
    """A reading that passed every check, where its device stands, and whether it changed
    the device's state (for sinks that keep changes only)."""

    reading: Reading
    placement: Placement
    is_change: bool
    is_repeat: bool = False  # the same fields again: only the device's instants moved


STORE_RETRY_MAX_S = 10.0


def _change(accepted: Accepted) -> dict[str, object]:
    """The part of a reading that changed the device's state, for its history."""
    reading = accepted.reading
    if reading.kind == Kind.AVAILABILITY:
        return dict(reading.fields)
    field = KINDS[accepted.placement.kind].state_field
    if field is not None and field in reading.fields:
        return {field: reading.fields[field]}
    return {"online": True}


class Pipeline:
    def __init__(
        self,
        *,
        registry: Registry,
        adapters: AdapterSet,
        engine: Engine,
        store: Store,
        route: Route,
        health: Health,
        clock: Clock,
        on_committed: Callable[[list[Message]], None],
        on_alerts: Callable[[], None],
        on_readings: Callable[[list[Accepted]], None] | None = None,
        policy: AlertPolicy | None = None,
    ) -> None:
        self._registry = registry
        self._adapters = adapters
        self._engine = engine
        self._store = store
        self._route = route
        self._health = health
        self._clock = clock
        self._now = clock.now
        self._clock_topic: str | None = None
        self._is_stopping = False
        self._on_committed = on_committed
        self._on_alerts = on_alerts
        self._on_readings = on_readings
        self._policy = policy or AlertPolicy()
        self._accepted: list[Accepted] = []  # readings of the step in hand
        self._lock = asyncio.Lock()
        self._timer_wake = asyncio.Event()
        self.states: dict[str, DeviceState] = {}
        self._seen: dict[str, DeviceState] = {}  # repeated reports not written yet
        self._tracks_later: dict[TrackKey, None] = {}  # offline watches they moved
        self._seen_due = time.monotonic() + SEEN_FLUSH_S
        self._seen_told = False

    def restore(self) -> None:
        """Load device states and rule tracks saved before the last stop."""
        self.states = self._store.device_states()
        tracks = self._store.load_tracks()
        self._engine.restore(tracks)
        log.info("state_restored devices=%d tracks=%d", len(self.states), len(tracks))

    async def run_ingest(self, inbox: Inbox) -> None:
        while True:
            messages = await inbox.take(BATCH_LIMIT)
            try:
                await self._step(functools.partial(self._observe, messages), messages)
            except Exception:  # a bug in one batch must not stop ingest
                log.exception("ingest_step_failed messages=%d", len(messages))
                self._on_committed(messages)

    def follow_clock(self, topic: str) -> None:
        """Take `topic`'s messages as the simulator's clock ticks (event-time mode)."""
        self._clock_topic = topic

    @property
    def _root_id(self) -> str:
        return next(iter(self._registry.site.nodes))

    async def replace_rules(self, rules: RuleFile) -> None:
        """Swap the rules in force between two steps; what the change clears is written."""
        async with self._lock:
            self._engine.replace_rules(rules)
        self._timer_wake.set()

    def places_changed(self) -> None:
        """The registry changed (a device added or removed through the API)."""
        self._engine.set_where(self._registry.where())
        self._timer_wake.set()

    async def pause(self) -> None:
        """Wait for the step in hand to be committed (or, if the store keeps failing, given
        up unacknowledged: the broker sends it again), then take no further step."""
        self._is_stopping = True
        await self._lock.acquire()
        if self._has_later:
            batch = Batch()
            self._take_seen(batch, force=True)
            await self._write(batch, self._now())

    def _take_seen(self, batch: Batch, *, force: bool = False) -> None:
        """Hand what repeated reports moved (device instants, offline watches) to this
        step's batch when it is due: all of it when stopping, else a chunk."""
        if not self._has_later or not (force or time.monotonic() >= self._seen_due):
            return
        limit = None if force else SEEN_CHUNK
        seen = self._seen  # oldest first: a device keeps its place when it repeats again
        batch.seen = {d: seen.pop(d) for d in list(islice(seen, limit))}
        later = self._tracks_later
        keys = list(islice(later, limit))
        for key in keys:
            del later[key]
        batch.tracks.extend((key, self._engine.saved_form(key)) for key in keys)
        if not self._has_later:
            self._seen_due = time.monotonic() + SEEN_FLUSH_S
            self._seen_told = False

    @property
    def _has_later(self) -> bool:
        return bool(self._seen or self._tracks_later)

    def _note_tracks(self, batch: Batch) -> None:
        """This step's changed tracks go in its batch; tracks only moved by reports wait."""
        batch.tracks = self._engine.take_changes()
        later = self._tracks_later
        for key, _ in batch.tracks:
            later.pop(key, None)
        later.update(dict.fromkeys(self._engine.take_refreshed()))

    async def run_timers(self) -> None:
        """Fire hold conditions at their due time, whether or not a message arrives."""
        while True:
            # cleared before reading the next due time: a hold added after this is seen
            self._timer_wake.clear()
            due_at = self._engine.next_due_at()
            timeout = (
                None if due_at is None else max(0.0, self._clock.wall_seconds(due_at - self._now()))
            )
            if self._has_later:  # what repeated reports moved waits for a step to write it
                flush_in = max(0.0, self._seen_due - time.monotonic())
                timeout = flush_in if timeout is None else min(timeout, flush_in)
            await wait_or_timeout(self._timer_wake, timeout)
            try:
                await self._step(self._tick, [])
            except Exception:
                log.exception("timer_step_failed")
                await asyncio.sleep(1.0)

    def _tick(self, now: datetime) -> Batch:
        batch = Batch()
        self._add_events(batch, self._engine.tick(now))
        self._note_tracks(batch)
        self._take_seen(batch)
        return batch

    def _observe(self, messages: list[Message], now: datetime) -> Batch:
        batch = Batch()
        ingest = self._health.ingest
        for message in messages:
            if message.topic == self._clock_topic and isinstance(self._clock, EventClock):
                if self._clock.tick(message.payload):
                    self._timer_wake.set()  # due times may have come
                continue
            ingest.received += 1
            result = self._adapters.adapt(
                message.topic, message.payload, message.received_at, self._registry.kind_of
            )
            if isinstance(result, Rejection):
                ingest.reject(result)
                if result.reason == RejectReason.UNKNOWN_DEVICE:
                    self._sighted(batch, result)
                continue
            accepted = self._admit(result, message, batch)
            if accepted is None:
                continue
            reading = accepted.reading
            ingest.accepted += 1
            if self._clock_topic is None:
                # replaying a stream: its event times are the clock. With the simulator's
                # clock ticks to follow, only they move it: a reading stamped on arrival
                # (availability, a sensor without its own time) would drag the clock to
                # the wall when the simulated day lies in the past.
                self._clock.advance(reading.event_at)
            now = max(now, self._now())
            self._add_events(batch, self._engine.observe(reading, now))
            if accepted.is_repeat and reading.device_id not in batch.states:
                self._seen[reading.device_id] = self.states[reading.device_id]
            else:
                batch.states[reading.device_id] = self.states[reading.device_id]
                self._seen.pop(reading.device_id, None)  # the full row carries the instants
            if accepted.is_change:
                batch.changes.append((reading.device_id, reading.event_at, _change(accepted)))
            self._accepted.append(accepted)
        self._add_events(batch, self._engine.tick(now))
        self._note_tracks(batch)
        self._take_seen(batch)
        return batch

    def _admit(self, reading: Reading, message: Message, batch: Batch) -> Accepted | None:
        """Check the reading against the registry and the device's history; update state."""
        placement = self._registry.placement(reading.device_id)
        reason = None
        if placement is None:
            reason, detail = RejectReason.UNKNOWN_DEVICE, "device is not in the registry"
        elif reading.kind not in (placement.kind, Kind.AVAILABILITY):
            reason = RejectReason.KIND_MISMATCH
            detail = f"device is a {placement.kind.value} sensor, reading says {reading.kind.value}"
        elif is_duplicate(self.states.get(reading.device_id), reading):
            reason = RejectReason.DUPLICATE
            detail = "the same reading was already applied (same event_at and fields)"
        elif repeat(self.states.get(reading.device_id), reading):
            return Accepted(reading, placement, is_change=False, is_repeat=True)
        else:
            before = self.states.get(reading.device_id)
            state = advance(before, reading, placement.kind)
            if state is not None:
                self.states[reading.device_id] = state
                is_change = before is None or (
                    state.changed_at != before.changed_at or state.is_online != before.is_online
                )
                return Accepted(reading, placement, is_change)
            reason = RejectReason.OUT_OF_ORDER
            detail = "event_at is older than the last reading applied for this device"
        rejection = Rejection(
            reason=reason,
            detail=detail,
            topic=message.topic,
            received_at=message.received_at,
            adapter=self._adapters.name_for(message.topic),
            device_id=reading.device_id,
            sample=Rejection.sample_of(message.payload),
        )
        self._health.ingest.reject(rejection)
        if reason == RejectReason.UNKNOWN_DEVICE:
            self._sighted(batch, rejection)
        return None

    def _sighted(self, batch: Batch, rejection: Rejection) -> None:
        """Fold a message from an unknown device into the batch's unregistered sightings."""
        device_id = rejection.device_id
        if device_id is None:
            return
        seen = batch.unregistered.get(device_id)
        batch.unregistered[device_id] = Sighting(
            device_id=device_id,
            adapter=rejection.adapter,
            topic=rejection.topic,
            last_payload=rejection.sample,
            count=1 if seen is None else seen.count + 1,
            first_seen_at=rejection.received_at if seen is None else seen.first_seen_at,
            last_seen_at=rejection.received_at,
        )

    def _add_events(self, batch: Batch, events: list[AlertEvent]) -> None:
        for event in events:
            placement = (
                node_placement(self._registry.site, event.node_id, event.kind)
                if event.node_id is not None
                else self._registry.placement(event.device_id)
            )
            if placement is None:  # a device removed since: its alert row still clears
                placement = node_placement(self._registry.site, self._root_id, event.kind)
            if placement is None:  # pragma: no cover  # a site always has its district
                continue
            rule = self._engine.rules.get(event.rule_id)  # None: a rule removed by a reload
            title_zh = rule.title.zh if rule else event.rule_id
            title_en = rule.title.en if rule else event.rule_id
            batch.events.append(RaisedEvent(event, placement, title_zh, title_en))
            if event.type == EventType.RAISED:
                self._health.alerts.raised += 1
            elif event.type == EventType.CLEARED:
                self._health.alerts.cleared += 1
            log.info(
                "alert_%s rule=%s device_id=%s opened_at=%s",
                event.type.value,
                event.rule_id,
                event.device_id,
                event.opened_at.isoformat(),
            )

    async def _step(self, work: Callable[[datetime], Batch], messages: list[Message]) -> None:
        async with self._lock:
            now = self._now()
            started = time.perf_counter()
            batch = work(now)
            evaluated = time.perf_counter()
            self._health.steps.evaluate.observe(evaluated - started)
            if batch and not await self._write(batch, now):
                return  # stopping with the store failing: nothing acknowledged, nothing lost
            if batch:
                self._health.steps.write.observe(time.perf_counter() - evaluated)
            self._on_committed(messages)
            accepted, self._accepted = self._accepted, []
        if accepted and self._on_readings is not None:
            self._on_readings(accepted)
        if batch.tracks:
            self._timer_wake.set()  # a new hold may be due sooner than the one we sleep for
        if self._has_later and not self._seen_told:
            self._seen_told = True  # the timer loop now knows instants wait to be written
            self._timer_wake.set()
        if batch.events:
            self._on_alerts()

    async def _write(self, batch: Batch, now: datetime) -> bool:
        """Commit the batch; while the store fails, keep trying (the decisions are made).

        False only when the gateway stops before the store recovers."""
        delay = 0.2
        while True:
            try:
                await asyncio.to_thread(self._store.apply, batch, now, self._route, self._policy)
            except StoreUnavailable as exc:
                self._health.store_error = exc.reason
                log.error("store_write_failed reason=%s retry_in_s=%.1f", exc.reason, delay)
                if self._is_stopping:
                    return False
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX_S)
                continue
            self._health.store_error = None
            return True
