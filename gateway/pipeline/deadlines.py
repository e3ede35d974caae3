"""The deadline task: applies escalation and reminders when they fall due.

Sleeps until the earliest deadline the store knows (or until woken by a new alert), then
lets `Store.apply_deadline` decide and record each due alert in its own transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from gateway.alerts.escalation import AlertPolicy
from gateway.runtime.clock import wait_or_timeout
from gateway.runtime.rounds import run_rounds
from gateway.store.db import Route, Store

log = logging.getLogger(__name__)

IDLE_POLL_S = 30.0


class DeadlineWorker:
    def __init__(
        self,
        store: Store,
        route: Route,
        policy: AlertPolicy,
        now: Callable[[], datetime],
        on_sent: Callable[[], None],
        wall_seconds: Callable[[timedelta], float] = timedelta.total_seconds,
    ) -> None:
        self._store = store
        self._route = route
        self._policy = policy
        self._now = now
        self._on_sent = on_sent
        self._wall_seconds = wall_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        await run_rounds("deadlines", self._round)

    async def _round(self) -> None:
        self._wake.clear()
        now = self._now()
        due = await asyncio.to_thread(self._store.due_deadlines, now)
        for alert_id in due:
            step, alert = await asyncio.to_thread(
                self._store.apply_deadline, alert_id, now, self._route, self._policy
            )
            if step is not None:
                log.info(
                    "alert_%s alert_id=%s level=%s reminders=%s",
                    step.value,
                    alert_id,
                    alert.escalation_level,
                    alert.reminders,
                )
        if due:
            self._on_sent()
            return
        next_at = await asyncio.to_thread(self._store.next_deadline_at)
        timeout = IDLE_POLL_S
        if next_at is not None:
            timeout = min(timeout, max(0.0, self._wall_seconds(next_at - self._now())))
        await wait_or_timeout(self._wake, timeout)
