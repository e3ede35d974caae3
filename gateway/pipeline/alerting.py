"""The alert stage: rule events, people's actions and deadlines become decided changes
(gateway/alerts/lifecycle.py), the changes become messages (gateway/alerts/routing.py),
and both go into the step's write. The only place alerts change; it runs on the loop.

    rule events ─┐
    actions ─────┼─► lifecycle (pure) ─► routing (pure) ─► StepWrite ─► writer ─► outbox
    deadlines ───┘        │
                          └─► AlertBook (the alerts in play, in memory)

The book holds every alert a decision may touch (active, still to be acted on, or cleared
recently enough to reopen) and is loaded from the store at start; a decision sees the
changes decided before it, written or not: the writer writes in the order of decisions.
An action on an alert the book no longer holds (resolved long ago) reads it from the
store first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from gateway.alerts.book import AlertBook
from gateway.alerts.escalation import AlertPolicy
from gateway.alerts.lifecycle import (
    Action,
    Change,
    Raise,
    on_action,
    on_assign,
    on_clear,
    on_comment,
    on_deadline,
    on_dispatch,
    on_raise,
    on_rule_reminder,
)
from gateway.alerts.routing import Route
from gateway.errors import StoreUnavailable
from gateway.runtime.stats import Health
from gateway.store import Store
from gateway.store.alerts import Comment
from gateway.store.database import json_text
from gateway.store.records import Alert, Delivery, Resolution
from gateway.store.step import Ids, StepWrite
from gateway.store.writer import Writer
from rules.engine import EventType
from rules.model import Deadline

log = logging.getLogger(__name__)

ACTION_TIMEOUT_S = 10.0
T = TypeVar("T")


class Follower(Protocol):
    """A stage that acts on alert changes in the same step (the case stage: an alert
    opens or joins a case, gateway/pipeline/casework.py) and has deadlines of its own."""

    def on_alert(self, step: StepWrite, alert: Alert, event: str, now: datetime) -> None: ...

    def on_deadlines(self, step: StepWrite, now: datetime) -> None: ...

    def next_due_at(self) -> datetime | None: ...


class AlertStage:
    def __init__(
        self,
        *,
        store: Store,
        route: Route,
        policy: AlertPolicy,
        health: Health,
        deadline_of: Callable[[str], Deadline | None] = lambda rule_id: None,
    ) -> None:
        self._store = store
        self._route = route
        self._policy = policy
        self._health = health
        self._deadline_of = deadline_of
        self.book = AlertBook(timedelta(seconds=policy.reopen_within_s))
        self._alert_ids = Ids(0)
        self._delivery_ids = Ids(0)
        self._followers: list[Follower] = []

    def follow(self, follower: Follower) -> None:
        """`follower` sees every alert change routed, in its step, and its deadlines fire
        with the alerts'."""
        self._followers.append(follower)

    @property
    def delivery_ids(self) -> Ids:
        """Ids of new outbox rows (shared with followers: one outbox, one sequence)."""
        return self._delivery_ids

    def load(self, now: datetime) -> None:
        """The alerts in play, and where new ids start (blocking: call before the loop runs
        steps)."""
        cleared_since = now - timedelta(seconds=self._policy.reopen_within_s)
        for alert in self._store.alerts.live(cleared_since):
            self.book.put(alert)
        self._alert_ids = Ids(self._store.alerts.max_id())
        self._delivery_ids = Ids(self._store.outbox.max_id())
        log.info("alerts_loaded in_play=%d", len(self.book))

    # ---- decisions into a step -----------------------------------------------------------

    def on_events(self, step: StepWrite, items: list[Raise], now: datetime) -> None:
        """What the rule engine raised, cleared or reminded in this step."""
        for item in items:
            event = item.event
            latest = self.book.latest(event.rule_id, event.device_id)
            change: Change | None
            if event.type == EventType.RAISED:
                change = on_raise(item, self._alert_ids.take(), latest, now, self._policy)
            elif event.type == EventType.CLEARED:
                change = on_clear(latest, event.at, now)
            else:
                change = on_rule_reminder(latest, now)
            if change is not None:
                self.apply(step, change, now)

    def on_deadlines(self, step: StepWrite, now: datetime) -> None:
        """Escalations, overdue flags and reminders that came due by `now`."""
        for alert in self.book.due(now):
            change = on_deadline(alert, now, self._policy, self._deadline_of(alert.rule_id))
            if change is None:
                self.book.put(alert)  # nothing yet: back in with its next instant
                continue
            self.apply(step, change, now)
            log.info(
                "alert_%s alert_id=%s level=%s reminders=%s",
                change.log.action,
                alert.id,
                change.alert.escalation_level,
                change.alert.reminders,
            )
        for follower in self._followers:
            try:
                follower.on_deadlines(step, now)
            except Exception:  # a case-side bug must never cost the alerts their step
                log.exception("follower_deadlines_failed")

    def next_due_at(self) -> datetime | None:
        due = [self.book.next_due_at(), *(f.next_due_at() for f in self._followers)]
        present = [d for d in due if d is not None]
        return min(present) if present else None

    def apply(self, step: StepWrite, change: Change, now: datetime) -> Alert:
        """Record a decided change in the step, with the messages it causes; an alert told
        to people on duty becomes dispatched in the same step."""
        alert = change.alert
        self._record(step, change)
        if change.event is None:
            return alert
        entries = self._route(alert, change.event, now)
        for entry in entries:
            step.deliveries.append(
                Delivery(
                    id=self._delivery_ids.take(),
                    alert_id=alert.id,
                    event=change.event,
                    channel=entry.channel,
                    target=entry.target,
                    body=json_text(entry.body),
                    idempotency_key=entry.idempotency_key,
                    attempts=0,
                    created_at=now,
                    next_attempt_at=now,
                    is_dispatch=entry.is_dispatch,
                )
            )
        targets = sorted({e.target for e in entries if e.is_dispatch})
        if targets:
            dispatched = on_dispatch(alert, targets, now)
            if dispatched is not None:
                self._record(step, dispatched)
                alert = dispatched.alert
        for follower in self._followers:
            try:
                follower.on_alert(step, alert, change.event, now)
            except Exception:  # a case-side bug must never cost the alert its step
                log.exception("follower_failed alert_id=%s event=%s", alert.id, change.event)
        return alert

    def _record(self, step: StepWrite, change: Change) -> None:
        alert = change.alert
        self.book.put(alert)
        step.alerts[alert.id] = alert
        step.log.append(change.log)
        if change.episode is not None:
            step.episodes.append(change.episode)
        counts = self._health.alerts
        if change.log.action in ("raise", "reopen"):
            counts.raised += 1
        elif change.log.action == "clear":
            counts.cleared += 1

    # ---- people's actions (from the API) -------------------------------------------------

    async def _current(self, alert_id: int) -> Alert:
        alert = self.book.get(alert_id)
        if alert is not None:
            return alert
        stored = await asyncio.to_thread(self._store.alerts.get, alert_id)  # AlertNotFound
        return self.book.get(alert_id) or stored  # the book may have it by now

    async def act(
        self,
        writer: Writer,
        alert_id: int,
        action: Action,
        actor: str,
        note: str | None,
        now: datetime,
        resolution: Resolution | None = None,
    ) -> tuple[Alert, list[Delivery]]:
        """Acknowledge, resolve or close, written before it returns (InvalidTransition
        when the state does not allow it, AlertNotFound when there is no such alert)."""
        alert = await self._current(alert_id)
        step = StepWrite()
        done = self.apply(step, on_action(alert, action, actor, note, now, resolution), now)
        return done, await writer.write(step)

    async def assign(
        self, writer: Writer, alert_id: int, person_id: str, actor: str, now: datetime
    ) -> tuple[Alert, list[Delivery]]:
        alert = await self._current(alert_id)
        step = StepWrite()
        done = self.apply(step, on_assign(alert, person_id, actor, now), now)
        return done, await writer.write(step)

    async def comment(
        self, writer: Writer, alert_id: int, person_id: str, text: str, now: datetime
    ) -> tuple[None, list[Delivery]]:
        alert = await self._current(alert_id)
        step = StepWrite(comments=[Comment(alert_id, now, person_id, text)])
        step.log.append(on_comment(alert, person_id, text, now).log)
        return None, await writer.write(step)


class AlertDesk:
    """The alert stage as API threads reach it: each call runs on the loop and waits for
    its write. While the store cannot be written, actions are refused (503) rather than
    decided and left waiting."""

    def __init__(
        self,
        stage: AlertStage,
        writer: Writer,
        loop: asyncio.AbstractEventLoop,
        health: Health,
        on_queued: Callable[[list[Delivery]], None],
        store_path: str,
    ) -> None:
        self._stage = stage
        self._writer = writer
        self._loop = loop
        self._health = health
        self._on_queued = on_queued
        self._store_path = store_path

    def run(self, make: Callable[[], Awaitable[tuple[T, list[Delivery]]]]) -> T:
        """Run `make` on the loop and wait for its write (the case desk uses it too)."""
        if self._health.store_error is not None:
            raise StoreUnavailable(self._store_path, self._health.store_error)

        async def on_loop() -> T:
            result, queued = await make()
            self._on_queued(queued)
            return result

        future = asyncio.run_coroutine_threadsafe(on_loop(), self._loop)
        try:
            return future.result(timeout=ACTION_TIMEOUT_S)
        except TimeoutError as exc:
            raise StoreUnavailable(
                self._store_path, "writing takes too long; the action will be written later"
            ) from exc

    def act(
        self,
        alert_id: int,
        action: Action,
        actor: str,
        note: str | None,
        now: datetime,
        resolution: Resolution | None = None,
    ) -> Alert:
        return self.run(
            lambda: self._stage.act(self._writer, alert_id, action, actor, note, now, resolution)
        )

    def assign(self, alert_id: int, person_id: str, actor: str, now: datetime) -> Alert:
        return self.run(lambda: self._stage.assign(self._writer, alert_id, person_id, actor, now))

    def comment(self, alert_id: int, person_id: str, text: str, now: datetime) -> None:
        self.run(lambda: self._stage.comment(self._writer, alert_id, person_id, text, now))
