"""The case stage: reports, people's steps, sensor alerts and deadlines become decided
changes (gateway/cases/workflow.py), the changes become messages through the routing file
(gateway/alerts/routing.py, events `case.<step>`), and both go into the step's write. The
only place cases change; it runs on the loop.

    reports, steps (API) ─┐
    alert raised/cleared ─┼─► workflow (pure) ─► routing (pure) ─► StepWrite ─► writer ─► outbox
    deadlines ────────────┘          │
                                     └─► CaseBook (the open cases, in memory)

Sensor alerts reach it from the alert stage (`AlertStage.follow`): a raise of a rule the
category file maps opens a case, or joins the open one of that device and category; a
clear is evidence for verification. Both land in the alert change's own step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from gateway.alerts.routing import Router, Subject
from gateway.cases.deadlines import CasePolicy
from gateway.cases.links import CaseLinks
from gateway.cases.routing import subject_of
from gateway.cases.timing import next_due_at, on_alert_cleared, on_alert_raised, on_time
from gateway.cases.workflow import (
    Act,
    Actor,
    Change,
    Command,
    Draft,
    check,
    decide,
    dispatched,
    report,
    undispatched,
)
from gateway.errors import InvalidCase
from gateway.pipeline.alerting import AlertDesk
from gateway.store import Store
from gateway.store.database import json_text
from gateway.store.records import (
    Alert,
    Case,
    CasePhoto,
    CaseSource,
    CaseState,
    Delivery,
    Reporter,
)
from gateway.store.step import Ids, StepWrite
from gateway.store.writer import Writer
from rules.timers import Timers

log = logging.getLogger(__name__)

SENSORS = Actor("sensors", None)


class CaseBook:
    """The cases not yet closed or cancelled, by id, by device and category (the case an
    alert joins) and by alert; their next due instants in a heap."""

    def __init__(self) -> None:
        self._by_id: dict[int, Case] = {}
        self._by_device: dict[tuple[str, str], int] = {}
        self._by_alert: dict[int, int] = {}
        self._due: Timers[int] = Timers()

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, case_id: int) -> Case | None:
        return self._by_id.get(case_id)

    def open_for(self, device_id: str, category: str) -> Case | None:
        case_id = self._by_device.get((device_id, category))
        return None if case_id is None else self._by_id.get(case_id)

    def of_alert(self, alert_id: int) -> Case | None:
        case_id = self._by_alert.get(alert_id)
        return None if case_id is None else self._by_id.get(case_id)

    def put(self, case: Case) -> None:
        key = (case.device_id, case.category) if case.device_id else None
        if case.is_final:
            self._by_id.pop(case.id, None)
            if key is not None and self._by_device.get(key) == case.id:
                del self._by_device[key]
            for alert_id in case.alert_ids:
                if self._by_alert.get(alert_id) == case.id:
                    del self._by_alert[alert_id]
            self._due.set(case.id, None)
            return
        self._by_id[case.id] = case
        if key is not None:
            self._by_device[key] = case.id
        for alert_id in case.alert_ids:
            self._by_alert[alert_id] = case.id
        self._due.set(case.id, next_due_at(case))

    def next_due_at(self) -> datetime | None:
        return self._due.next_at()

    def due(self, now: datetime) -> list[Case]:
        out = []
        while (case_id := self._due.pop(now)) is not None:
            case = self._by_id.get(case_id)
            if case is not None:
                out.append(case)
        return out


class CaseStage:
    def __init__(
        self,
        *,
        store: Store,
        router: Router,
        policy: CasePolicy,
        links: CaseLinks | None = None,
        on_due_changed: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._router = router
        self.policy = policy
        self._links = links
        self.on_due_changed = on_due_changed
        self.book = CaseBook()
        self._case_ids = Ids(0)
        self._delivery_ids: Ids | None = None
        # told every case change with its event, in its step (the city feed)
        self._followers: list[Callable[[StepWrite, Case, str, datetime], None]] = []

    def follow(self, on_case: Callable[[StepWrite, Case, str, datetime], None]) -> None:
        self._followers.append(on_case)

    def load(self, delivery_ids: Ids) -> None:
        """The open cases, and where new ids start (blocking: before the loop runs steps).
        `delivery_ids`: the alert stage's, shared: one outbox, one sequence."""
        for case in self._store.cases.live():
            self.book.put(case)
        self._case_ids = Ids(self._store.cases.max_id())
        self._delivery_ids = delivery_ids
        log.info("cases_loaded open=%d", len(self.book))

    # ---- what the alert stage tells -----------------------------------------------------

    def on_alert(self, step: StepWrite, alert: Alert, event: str, now: datetime) -> None:
        """An alert change the alert stage just recorded in `step`."""
        if event == "alert.raised" and not alert.is_inhibited:
            category = self.policy.categories.by_rule.get(alert.rule_id)
            if category is None:
                return
            case = self.book.of_alert(alert.id) or self.book.open_for(alert.device_id, category.id)
            if case is not None:
                change = on_alert_raised(case, alert.id, now, self.policy)
                self.apply(step, change, now)
                step.case_alerts.append((alert.id, case.id, now))
                return
            draft = Draft(
                source=CaseSource.SENSOR,
                category=category,
                location=alert.location,
                place=alert.place,
                description=alert.message_zh or alert.title_zh,
                reporter=Reporter(name="sensors"),
                device_id=alert.device_id,
                alert_id=alert.id,
            )
            new = self.apply(
                step, report(draft, self._case_ids.take(), SENSORS, now, self.policy), now
            )
            step.case_alerts.append((alert.id, new.id, now))
            log.info(
                "case_opened case_id=%s alert_id=%s category=%s", new.id, alert.id, new.category
            )
        elif event == "alert.cleared":
            case = self.book.of_alert(alert.id)
            if case is not None and alert.cleared_at is not None:
                self.apply(
                    step, on_alert_cleared(case, alert.id, alert.cleared_at, now, self.policy), now
                )
        elif event in ("alert.acknowledged", "alert.resolved"):
            self._mirror(step, alert, event, now)

    def _mirror(self, step: StepWrite, alert: Alert, event: str, now: datetime) -> None:
        """A person took or resolved the alert behind a sensor case: the case follows (they
        accepted it, they handled it), so that one piece of work is not done twice."""
        case = self.book.of_alert(alert.id)
        if case is None or case.source != CaseSource.SENSOR:
            return
        who = alert.acknowledged_by if event == "alert.acknowledged" else alert.resolved_by
        actor = Actor(who or "sensors", None)  # the alert stage checked who may act
        note = f"alert {alert.id} {event.removeprefix('alert.')}"
        if case.state == CaseState.DISPATCHED:
            accept = Command(Act.ACCEPT, note=note)
            case = self.apply(step, decide(case, accept, actor, now, self.policy), now)
        if event == "alert.resolved" and case.state == CaseState.ACCEPTED:
            result = alert.resolution.value if alert.resolution else "resolved"
            done = f"{note}: {result}" + (f" · {alert.note}" if alert.note else "")
            handle = Command(Act.HANDLE, note=done)
            self.apply(step, decide(case, handle, actor, now, self.policy), now)

    def on_deadlines(self, step: StepWrite, now: datetime) -> None:
        for case in self.book.due(now):
            change = on_time(case, now, self.policy)
            if change is None:
                self.book.put(case)
                continue
            self.apply(step, change, now)
            log.info("case_%s case_id=%s level=%s", change.entry.action, case.id,
                     change.case.escalation_level)  # fmt: skip

    def next_due_at(self) -> datetime | None:
        return self.book.next_due_at()

    # ---- a change into a step -------------------------------------------------------------

    def apply(self, step: StepWrite, change: Change, now: datetime) -> Case:
        case = self._record(step, change)
        if change.event is not None:
            self._route(step, case, change.event, now)
            for on_case in self._followers:
                on_case(step, case, change.event, now)
        if change.needs_dispatch:
            case = self._dispatch(step, case, now)
        return case

    def _record(self, step: StepWrite, change: Change) -> Case:
        self.book.put(change.case)
        step.cases[change.case.id] = change.case
        step.case_history.append(change.entry)
        return change.case

    def _dispatch(self, step: StepWrite, case: Case, now: datetime) -> Case:
        """Routing's `case.dispatch` routes choose who a filed case goes to."""
        people, department, routes = self._router.people_for(
            self.subject(case, "case.dispatch", now), now
        )
        if not people:
            step.case_history.append(undispatched(case, now))
            return case
        ids = tuple(p.id for p in people)
        change = dispatched(case, ids, department, now, self.policy, tuple(routes))
        return self.apply(step, change, now)

    def subject(self, case: Case, event: str, now: datetime) -> Subject:
        return subject_of(case, event, now, self._links)

    def _route(self, step: StepWrite, case: Case, event: str, now: datetime) -> None:
        assert self._delivery_ids is not None  # noqa: S101  # load() ran
        for entry in self._router.route(self.subject(case, event, now), now):
            step.deliveries.append(
                Delivery(
                    id=self._delivery_ids.take(),
                    alert_id=0,
                    case_id=case.id,
                    event=event,
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

    # ---- people's reports and steps (from the API) -------------------------------------------

    async def _current(self, case_id: int) -> Case:
        case = self.book.get(case_id)
        if case is not None:
            return case
        stored = await asyncio.to_thread(self._store.cases.get, case_id)  # CaseNotFound
        return self.book.get(case_id) or stored

    async def report(
        self, writer: Writer, draft: Draft, photos: list[CasePhoto], actor: Actor, now: datetime
    ) -> tuple[Case, list[Delivery]]:
        step = StepWrite()
        case_id = self._case_ids.take()
        photos = [replace(p, case_id=case_id) for p in photos]
        draft = replace(draft, photos=tuple(p.id for p in photos))
        case = self.apply(step, report(draft, case_id, actor, now, self.policy), now)
        step.case_photos.extend(photos)
        queued = await writer.write(step)
        self.on_due_changed()
        log.info("case_reported case_id=%s source=%s category=%s", case.id, case.source.value,
                 case.category)  # fmt: skip
        return case, queued

    async def act(
        self,
        writer: Writer,
        case_id: int,
        command: Command,
        actor: Actor,
        photos: list[CasePhoto],
        now: datetime,
    ) -> tuple[Case, list[Delivery]]:
        """One step on a case, written before it returns (CaseTransitionError,
        CaseForbidden, InvalidCase, CaseNotFound)."""
        case = await self._current(case_id)
        step = StepWrite()
        command = replace(command, photos=tuple(p.id for p in photos))
        if command.act == Act.DISPATCH and not command.people and command.department:
            department = self._router.departments.get(command.department)
            if department is not None:
                command = replace(command, people=department.people)
        if command.act == Act.DISPATCH and not command.people:
            # nobody named: routing chooses, as for a filed case
            check(case, command.act, actor)
            done = self._dispatch(step, case, now)
            if done is case:
                raise InvalidCase(f"case {case.id}", "nobody on duty to dispatch to: name people")
        else:
            done = self.apply(step, decide(case, command, actor, now, self.policy), now)
        step.case_photos.extend(photos)
        queued = await writer.write(step)
        self.on_due_changed()
        return done, queued


class CaseDesk:
    """The case stage as API threads reach it, through the alert desk's runner: each call
    runs on the loop and waits for its write (503 while the store cannot be written)."""

    def __init__(self, stage: CaseStage, writer: Writer, runner: AlertDesk) -> None:
        self.stage = stage
        self._writer = writer
        self._runner = runner

    def report(self, draft: Draft, photos: list[CasePhoto], actor: Actor, now: datetime) -> Case:
        return self._runner.run(lambda: self.stage.report(self._writer, draft, photos, actor, now))

    def act(
        self, case_id: int, command: Command, actor: Actor, photos: list[CasePhoto], now: datetime
    ) -> Case:
        return self._runner.run(
            lambda: self.stage.act(self._writer, case_id, command, actor, photos, now)
        )
