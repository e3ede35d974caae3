"""The hot path: messages → readings → device state → rule engine → alert stage → one write.

Two tasks feed it, both on the asyncio loop: ingest (batches of MQTT messages) and the
timer (hold conditions and alert deadlines coming due with no message at all). A step is
decided under one lock, handed to the writer (gateway/store/writer.py), and the next step
may be decided while it is written (at most `WRITES_IN_FLIGHT` at a time); the writer keeps
their order. MQTT messages are acknowledged only once their step is committed; the outbox
gets a step's messages then too.

Overload makes alerts late, never false: a timer due at T fires only in a step after
which every message that had arrived before T is applied (`Ingest.horizon`, from the
ingest's reads of the socket to the end: gateway/ingest/horizon.py). A message still
waiting may be the close that cancels the timer, whatever its own time. Under a backlog,
timers wait for the messages ahead of their due time, not for the inbox to run empty.

One thing is written later than its step: what a repeated report moves (a sensor saying
again what it said last, which is most of the traffic): the device's instants. Those are
collected and written from `SEEN_FLUSH_S` on, each device once however many times it
repeated itself meanwhile, `SEEN_CHUNK` devices per step so that no step grows long.
Offline watches (rule tracks that every report moves on) are not written for it at all: a
restart moves them on from those instants. A crash loses about a second of them: an
offline watch restored a second behind can only fall due a second early, for a device
already silent for its kind's whole limit; never a state change, an alert or any other
track. A stop writes them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Protocol

from gateway.alerts.lifecycle import Raise
from gateway.errors import StoreUnavailable
from gateway.ingest.mqtt import Inbox, Message
from gateway.pipeline.alerting import AlertStage
from gateway.pipeline.devices import Instant, advance, instant_of, is_duplicate, repeat
from gateway.places.registry import Registry
from gateway.places.site import Placement, node_placement
from gateway.runtime.clock import Clock, EventClock, wait_or_timeout
from gateway.runtime.stats import Health
from gateway.store import Store
from gateway.store.records import Delivery, DeviceState, Sighting, StateChange
from gateway.store.step import StepWrite
from gateway.store.writer import Writer
from rules.engine import AlertEvent, Engine
from rules.model import RuleFile
from sensors.adapt import AdapterSet
from sensors.kinds import KINDS, Kind
from sensors.reading import Reading, Rejection, RejectReason

log = logging.getLogger(__name__)

BATCH_LIMIT = 500
LINGER_S = 0.008  # a step waits this long for company when few messages wait
LINGER_ENOUGH = 50  # ... fewer than this
SEEN_FLUSH_S = 1.0
SEEN_CHUNK = 500
WRITES_IN_FLIGHT = 2
SKEW_TOLERANCE_S = 2.0  # a device clock off by more is counted as skewed


class Ingest(Protocol):
    def horizon(self, now: datetime) -> datetime | None:
        """The latest instant by which every message that had arrived was applied, every
        message taken from the inbox counting as applied (None: none yet)."""
        ...


# what `_timer_now` answers while messages wait to be applied: no timer is due by then
NOTHING_DUE = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Accepted:
    """A reading that passed every check (at the instant it is applied), where its device
    stands, and whether it changed the device's state (for sinks that keep changes only)."""

    reading: Reading
    placement: Placement
    is_change: bool
    is_repeat: bool = False  # the same fields again: only the device's instants moved


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
        stage: AlertStage,
        store: Store,
        writer: Writer,
        health: Health,
        clock: Clock,
        on_committed: Callable[[list[Message]], None],
        on_queued: Callable[[list[Delivery]], None],
        on_readings: Callable[[list[Accepted]], None] | None = None,
        ingest: Ingest | None = None,
    ) -> None:
        self._registry = registry
        self._adapters = adapters
        self._engine = engine
        self._stage = stage
        self._store = store
        self._writer = writer
        self._health = health
        self._clock = clock
        self._now = clock.now
        self._clock_topic: str | None = None
        self._is_stopping = False
        self._on_committed = on_committed
        self._on_queued = on_queued
        self._on_readings = on_readings
        self._ingest = ingest
        self._accepted: list[Accepted] = []  # readings of the step in hand
        self._lock = asyncio.Lock()
        self._batch: list[Message] = []  # the ingest step's messages
        self._in_flight: deque[asyncio.Future[list[Delivery]]] = deque()
        self._timer_wake = asyncio.Event()
        self._sleeping_until: datetime | None = None  # the due time the timer loop waits for
        self.states: dict[str, DeviceState] = {}
        self._seen: dict[str, DeviceState] = {}  # repeated reports not written yet
        self._seen_due = time.monotonic() + SEEN_FLUSH_S
        self._seen_told = False
        self._max_lateness = engine.max_lateness

    def restore(self) -> None:
        """Load device states, rule tracks and the alerts in play saved before the last stop."""
        self.states = self._store.devices.states()
        tracks = self._store.devices.tracks()
        states = self.states
        self._engine.restore(
            tracks,
            last_seen={d: s.last_seen_at for d, s in states.items()},
            states={d: (s.kind, s.fields, s.changed_at) for d, s in states.items()},
        )
        self._stage.load(self._now())
        log.info("state_restored devices=%d tracks=%d", len(self.states), len(tracks))

    async def run_ingest(self, inbox: Inbox) -> None:
        """Apply messages as they come, a batch per step. The batch is taken when the step
        may begin (its lock held and the writes in flight few enough), not when its first
        message came: what arrives meanwhile joins it, so that the busier the gateway, the
        larger its steps, and the fixed cost of a step (its timers, its transaction, its
        hand-overs) is paid once for more messages. When few wait, the step waits
        `LINGER_S` for more first: at a moderate rate a step per message or two would
        otherwise cost about twice the CPU (docs/benchmarks.md: 4 ms halved it at 1,000
        msg/s, 8 ms took a fifth more); an alert is that much later at most, since timers
        wait for the messages that came before them."""
        take = functools.partial(self._take_batch, inbox)
        while True:
            await inbox.wait()
            if len(inbox) < LINGER_ENOUGH:
                await asyncio.sleep(LINGER_S)
            self._batch = []
            try:
                await self._step(self._observe, take)
            except Exception:  # a bug in one batch must not stop ingest
                log.exception("ingest_step_failed messages=%d", len(self._batch))
                self._on_committed(self._batch)  # given up: gone from the inbox all the same

    def _take_batch(self, inbox: Inbox) -> list[Message]:
        self._batch = inbox.take_now(BATCH_LIMIT)
        return self._batch

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
            self._max_lateness = self._engine.max_lateness
        self._timer_wake.set()

    def wake_timers(self) -> None:
        """A due time may have come nearer outside a step (a case reported through the
        API): the timer task looks again."""
        self._timer_wake.set()

    def places_changed(self) -> None:
        """The registry changed (a device added or removed through the API)."""
        self._engine.set_where(self._registry.where())
        self._timer_wake.set()

    async def pause(self) -> None:
        """Wait for the steps in hand to be committed (or, if the store keeps failing, given
        up unacknowledged: the broker sends them again), write what repeated reports
        moved, then take no further step."""
        self._is_stopping = True
        await self._lock.acquire()
        if self._store_is_failing():
            self._writer.stopping()  # the steps in flight give up instead of waiting
        await self._drain(0)
        if self._has_later:
            step = StepWrite()
            self._take_seen(step, force=True)
            self._writer.stopping()
            try:
                await self._writer.write(step)
            except StoreUnavailable as exc:
                log.error("store_write_failed_at_stop reason=%s", exc.reason)
        self._writer.stopping()

    def _store_is_failing(self) -> bool:
        return self._health.store_error is not None

    # ---- what repeated reports moved ------------------------------------------------------

    def _take_seen(self, step: StepWrite, *, force: bool = False) -> None:
        """Hand what repeated reports moved (device instants) to this step when it is due:
        all of it when stopping, else a chunk."""
        if not self._has_later or not (force or time.monotonic() >= self._seen_due):
            return
        limit = None if force else SEEN_CHUNK
        seen = self._seen  # oldest first: a device keeps its place when it repeats again
        step.seen = {d: seen.pop(d) for d in list(islice(seen, limit))}
        if not self._has_later:
            self._seen_due = time.monotonic() + SEEN_FLUSH_S
            self._seen_told = False

    @property
    def _has_later(self) -> bool:
        return bool(self._seen)

    def _note_tracks(self, step: StepWrite) -> None:
        """This step's changed tracks go in its write. Offline watches that reports only
        moved on are not written: a restart moves them on again from the devices' last
        reports (`Engine.restore`), which the devices' instants carry."""
        step.tracks = self._engine.take_changes()
        self._engine.take_refreshed()

    # ---- timers -----------------------------------------------------------------------------

    def _timer_now(self, now: datetime) -> datetime:
        """How far timers may fire this step: up to the instant by which every message
        that had arrived is applied (NOTHING_DUE: not at all)."""
        if self._ingest is None or isinstance(self._clock, EventClock):
            return now
        horizon = self._ingest.horizon(now)
        return NOTHING_DUE if horizon is None else min(now, horizon)

    def _next_due_at(self) -> datetime | None:
        due = [d for d in (self._engine.next_due_at(), self._stage.next_due_at()) if d is not None]
        return min(due) if due else None

    async def run_timers(self) -> None:
        """Fire hold conditions and alert deadlines at their due time, whether or not a
        message arrives."""
        while True:
            # cleared before reading the next due time: a hold added after this is seen
            self._timer_wake.clear()
            due_at = self._sleeping_until = self._next_due_at()
            timeout = (
                None if due_at is None else max(0.0, self._clock.wall_seconds(due_at - self._now()))
            )
            if due_at is not None and timeout == 0.0 and self._timer_now(self._now()) < due_at:
                # due, but messages received before then are still to be applied: the
                # ingest step that applies them fires it; look again shortly
                timeout = 0.05
            if self._has_later:  # what repeated reports moved waits for a step to write it
                flush_in = max(0.0, self._seen_due - time.monotonic())
                timeout = flush_in if timeout is None else min(timeout, flush_in)
            await wait_or_timeout(self._timer_wake, timeout)
            try:
                await self._step(lambda messages, now: self._tick(now), list)
            except Exception:
                log.exception("timer_step_failed")
                await asyncio.sleep(1.0)

    def _held_back(self, now: datetime) -> datetime:
        """`_timer_now`, counting the steps where it kept a due timer from firing."""
        limit = self._timer_now(now)
        if limit < now:
            due = self._engine.next_due_at()
            if due is not None and limit < due <= now:
                self._health.ingest.timers_held += 1
        return limit

    def _tick(self, now: datetime) -> StepWrite:
        step = StepWrite()
        timer_now = self._held_back(now)
        self._add_events(step, self._engine.tick(now, timer_now), now)
        self._stage.on_deadlines(step, timer_now)
        self._note_tracks(step)
        self._take_seen(step)
        return step

    # ---- messages ---------------------------------------------------------------------------

    def _observe(self, messages: list[Message], now: datetime) -> StepWrite:
        step = StepWrite()
        ingest = self._health.ingest
        events: list[AlertEvent] = []
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
                    self._sighted(step, result)
                continue
            if self._clock_topic is None:
                # replaying a stream: its event times are the clock. With the simulator's
                # clock ticks to follow, only they move it: a reading stamped on arrival
                # (availability, a sensor without its own time) would drag the clock to
                # the wall when the simulated day lies in the past.
                self._clock.advance(result.event_at)
                now = max(now, self._now())
            accepted = self._admit(result, message, step, now)
            if accepted is None:
                continue
            reading = accepted.reading
            ingest.accepted += 1
            # the rest of the batch is still to be applied: no timer fires from here (a
            # later reading of the device, the close, may cancel it), bar one that this
            # very reading outlived (the engine fires those first: it was due before)
            events += self._engine.observe(reading, now, NOTHING_DUE)
            device_id = reading.device_id
            if accepted.is_repeat and device_id not in step.states:
                self._seen[device_id] = self.states[device_id]
            else:
                step.states[device_id] = self.states[device_id]
                self._seen.pop(device_id, None)  # the full row carries the instants
            self._accepted.append(accepted)
        timer_now = self._held_back(now)
        events += self._engine.tick(now, timer_now)
        self._add_events(step, events, now)
        self._stage.on_deadlines(step, timer_now)
        self._note_tracks(step)
        self._take_seen(step)
        return step

    def _admit(
        self, reading: Reading, message: Message, step: StepWrite, now: datetime
    ) -> Accepted | None:
        """Check the reading against the registry and the device's history; update state."""
        placement = self._registry.placement(reading.device_id)
        device_id = reading.device_id
        if placement is None:
            reason, detail = RejectReason.UNKNOWN_DEVICE, "device is not in the registry"
        elif reading.kind not in (placement.kind, Kind.AVAILABILITY):
            reason = RejectReason.KIND_MISMATCH
            detail = f"device is a {placement.kind.value} sensor, reading says {reading.kind.value}"
        else:
            before = self.states.get(device_id)
            moment = instant_of(
                reading,
                before,
                now,
                self._max_lateness,
                follows_wall=not isinstance(self._clock, EventClock),
            )
            if is_duplicate(before, reading, moment, message.dup):
                reason = RejectReason.DUPLICATE
                detail = "the same reading was already applied (a redelivery, or its stamp again)"
            else:
                self._count_skew(moment, message)
                # the site's id string, not the message's copy of it: states, tracks and
                # their keys then hold one string per device (6 MB at 100,000 devices)
                applied = Reading(
                    placement.device_id,
                    reading.kind,
                    reading.fields,
                    moment.at,
                    reading.received_at,
                )  # not _replace: one call, not a generic rebuild
                if repeat(before, applied, moment):
                    return Accepted(applied, placement, is_change=False, is_repeat=True)
                return self._advance(before, applied, placement, moment, step)
        rejection = Rejection(
            reason=reason,
            detail=detail,
            topic=message.topic,
            received_at=message.received_at,
            adapter=self._adapters.name_for(message.topic),
            device_id=device_id,
            sample=Rejection.sample_of(message.payload),
        )
        self._health.ingest.reject(rejection)
        if reason == RejectReason.UNKNOWN_DEVICE:
            self._sighted(step, rejection)
        return None

    def _advance(
        self,
        before: DeviceState | None,
        reading: Reading,
        placement: Placement,
        moment: Instant,
        step: StepWrite,
    ) -> Accepted:
        state = advance(before, reading, placement.kind, moment)
        is_change = before is None or (
            state.changed_at != before.changed_at or state.is_online != before.is_online
        )
        accepted = Accepted(reading, placement, is_change)
        if is_change:
            state.changes += 1
            change = StateChange(reading.device_id, moment.at, _change(accepted))
            step.history.append((change, state.changes))
        self.states[reading.device_id] = state
        return accepted

    def _count_skew(self, moment: Instant, message: Message) -> None:
        if moment.skew_s is not None and abs(moment.skew_s) > SKEW_TOLERANCE_S:
            self._health.ingest.skewed[self._adapters.name_for(message.topic)] += 1

    def _sighted(self, step: StepWrite, rejection: Rejection) -> None:
        """Fold a message from an unknown device into the step's unregistered sightings."""
        device_id = rejection.device_id
        if device_id is None:
            return
        seen = step.sightings.get(device_id)
        step.sightings[device_id] = Sighting(
            device_id=device_id,
            adapter=rejection.adapter,
            topic=rejection.topic,
            last_payload=rejection.sample,
            count=1 if seen is None else seen.count + 1,
            first_seen_at=rejection.received_at if seen is None else seen.first_seen_at,
            last_seen_at=rejection.received_at,
        )

    def _add_events(self, step: StepWrite, events: list[AlertEvent], now: datetime) -> None:
        if not events:
            return
        items = []
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
            items.append(
                Raise(
                    event,
                    placement,
                    rule.title.zh if rule else event.rule_id,
                    rule.title.en if rule else event.rule_id,
                    rule.deadline if rule else None,
                )
            )
            log.info(
                "alert_%s rule=%s device_id=%s opened_at=%s",
                event.type.value,
                event.rule_id,
                event.device_id,
                event.opened_at.isoformat(),
            )
        self._stage.on_events(step, items, now)

    # ---- one step -----------------------------------------------------------------------------

    async def _drain(self, keep: int) -> None:
        """Wait until at most `keep` writes are in flight."""
        while len(self._in_flight) > keep:
            future = self._in_flight[0]
            with contextlib.suppress(BaseException):  # its own step reports it
                await asyncio.shield(future)
            if self._in_flight and self._in_flight[0] is future:
                self._in_flight.popleft()

    async def _step(
        self,
        work: Callable[[list[Message], datetime], StepWrite],
        take: Callable[[], list[Message]],
    ) -> None:
        """One step: `take` the messages to apply (none for the timer) once the step may
        begin, decide it, hand it to the writer, and acknowledge its messages once it is
        committed. Taking and deciding run in one stretch, with no await between them: a
        message out of the inbox is applied before anything else runs (`Ingest.horizon`
        counts on it)."""
        async with self._lock:
            await self._drain(WRITES_IN_FLIGHT - 1)
            messages = take()
            now = self._now()
            started = time.perf_counter()
            step = work(messages, now)
            self._health.steps.evaluate.observe(time.perf_counter() - started)
            accepted, self._accepted = self._accepted, []
            written: asyncio.Future[list[Delivery]] | None = None
            if step:
                written = self._writer.submit(step)
                self._in_flight.append(written)
        due_at = self._next_due_at()
        if due_at is not None and (self._sleeping_until is None or due_at < self._sleeping_until):
            self._sleeping_until = due_at
            self._timer_wake.set()  # a new hold or deadline is due sooner than the one awaited
        if self._has_later and not self._seen_told:
            self._seen_told = True  # the timer loop now knows instants wait to be written
            self._timer_wake.set()
        queued: list[Delivery] = []
        if written is not None:
            begun = time.perf_counter()
            try:
                queued = await written
            except StoreUnavailable:
                return  # stopping with the store failing: nothing acknowledged, nothing lost
            finally:
                if written in self._in_flight:
                    self._in_flight.remove(written)
            self._health.steps.write.observe(time.perf_counter() - begun)
        self._on_committed(messages)
        if queued:
            self._on_queued(queued)
        if accepted and self._on_readings is not None:
            self._on_readings(accepted)
