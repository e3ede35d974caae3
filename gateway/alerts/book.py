"""The alerts the alert stage works with, in memory: those whose condition holds, those
people still have to act on, and those cleared recently enough to reopen. Loaded from
the store at start; every change the stage decides is put here before it is written, so
the next decision sees it. No I/O.

Deadlines (acknowledge, resolve, reminders) are due times in a heap, as the rule engine's
timers are: `due(now)` pops only what has come due.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime, timedelta

from gateway.alerts.escalation import next_due_at
from gateway.store.records import Alert
from rules.timers import Timers

Key = tuple[str, str]  # (rule id, subject id)


class AlertBook:
    def __init__(self, reopen_within: timedelta) -> None:
        self._reopen_within = reopen_within
        self._by_id: dict[int, Alert] = {}
        self._latest: dict[Key, int] = {}  # the newest alert of each rule and subject
        self._deadlines: Timers[int] = Timers()
        self._forget: list[tuple[datetime, int]] = []  # when a cleared alert stops mattering

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Alert]:
        return iter(list(self._by_id.values()))

    def get(self, alert_id: int) -> Alert | None:
        return self._by_id.get(alert_id)

    def latest(self, rule_id: str, subject_id: str) -> Alert | None:
        """The newest alert of a rule and subject this book holds (None: none live)."""
        alert_id = self._latest.get((rule_id, subject_id))
        return None if alert_id is None else self._by_id.get(alert_id)

    def put(self, alert: Alert) -> None:
        """Keep `alert` as it now stands (or let it go once nothing can happen to it)."""
        self._by_id[alert.id] = alert
        key = (alert.rule_id, alert.device_id)
        if self._latest.get(key, 0) <= alert.id:
            self._latest[key] = alert.id
        self._deadlines.set(alert.id, next_due_at(alert))
        if not alert.is_active and not alert.is_open:
            assert alert.cleared_at is not None  # noqa: S101  # not active: it cleared
            heapq.heappush(self._forget, (alert.cleared_at + self._reopen_within, alert.id))

    def next_due_at(self) -> datetime | None:
        return self._deadlines.next_at()

    def due(self, now: datetime) -> list[Alert]:
        """Alerts with a deadline or reminder due by `now` (each taken off until put back)."""
        out = []
        while (alert_id := self._deadlines.pop(now)) is not None:
            alert = self._by_id.get(alert_id)
            if alert is not None:
                out.append(alert)
        self._let_go(now)
        return out

    def _let_go(self, now: datetime) -> None:
        """Forget alerts that cleared longer ago than they could reopen and that nobody
        has to act on: the store keeps them, memory need not."""
        while self._forget and self._forget[0][0] <= now:
            _, alert_id = heapq.heappop(self._forget)
            alert = self._by_id.get(alert_id)
            if alert is None or alert.is_active or alert.is_open:
                continue
            if alert.cleared_at is not None and alert.cleared_at + self._reopen_within > now:
                continue  # reopened and cleared again since: a later entry is queued
            del self._by_id[alert_id]
            key = (alert.rule_id, alert.device_id)
            if self._latest.get(key) == alert_id:
                del self._latest[key]
