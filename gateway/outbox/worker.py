"""The outbox worker: delivers pending rows through their channel, retries with backoff.

Rows are written in the same transaction as the alert change they describe, so nothing is
sent that was not recorded and nothing recorded is forgotten across restarts. Order per
alert and target holds (the store hands out a row only once the earlier ones are done).
Backoff doubles from `retry_min_s` up to `retry_max_s`, with full jitter on the upper
half; after `max_attempts` (when set) a row becomes a dead letter.
A channel with a send budget (chat robots) gets the rows beyond its budget as digests;
a DEFER answer (quiet hours, budget spent) moves a row's next try without counting an
attempt (docs/channels.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from gateway.channels.base import Channel, Digesting, Outcome, Result
from gateway.config import OutboxSettings
from gateway.runtime.clock import wait_or_timeout
from gateway.runtime.rounds import run_rounds
from gateway.runtime.stats import Health
from gateway.store.db import Delivery, Store

log = logging.getLogger(__name__)

CONCURRENCY = 8
IDLE_POLL_S = 30.0


def split_for_budget(
    rows: list[Delivery], available: int, max_items: int
) -> tuple[list[Delivery], list[list[Delivery]], list[Delivery]]:
    """(rows sent alone, groups sent as one digest each, rows that wait) for one channel
    that may send `available` more messages now. Within the budget every row goes alone;
    beyond it rows go in digests of up to `max_items`, as many as the budget allows."""
    if len(rows) <= available:
        return rows, [], []
    groups = [rows[i : i + max_items] for i in range(0, len(rows), max(1, max_items))]
    return [], groups[:available], [d for g in groups[available:] for d in g]


def backoff_s(attempts: int, settings: OutboxSettings, rng: random.Random) -> float:
    """Delay before the next try after `attempts` failed ones (>= 1)."""
    ceiling = min(settings.retry_max_s, settings.retry_min_s * 2.0 ** min(attempts - 1, 30))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class OutboxWorker:
    def __init__(
        self,
        store: Store,
        channels: dict[tuple[str, str], Channel],
        settings: OutboxSettings,
        health: Health,
        now: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._channels = channels
        self._settings = settings
        self._health = health
        self._now = now
        self._wake = asyncio.Event()
        self._rng = random.Random()  # noqa: S311  # jitter, not security
        self._gate = asyncio.Semaphore(CONCURRENCY)
        self._is_closing = False

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        """Stop after the round in hand: deliveries in flight finish and are recorded."""
        self._is_closing = True
        self._wake.set()

    async def run(self) -> None:
        await run_rounds("outbox", self._round, is_done=lambda: self._is_closing)

    async def _round(self) -> None:
        # clear before looking, so a wake-up during the look is not lost
        self._wake.clear()
        due = await asyncio.to_thread(self._store.due_deliveries, self._now())
        if due:
            await asyncio.gather(*self._sends(due))
            return
        next_at = await asyncio.to_thread(self._store.next_delivery_at)
        timeout = IDLE_POLL_S
        if next_at is not None:
            timeout = min(timeout, max(0.0, (next_at - self._now()).total_seconds()))
        await wait_or_timeout(self._wake, timeout)

    async def _deliver(self, delivery: Delivery) -> None:
        channel = self._channels.get((delivery.channel, delivery.target))
        async with self._gate:
            if channel is None:
                result = Result(
                    Outcome.GIVE_UP, f"{delivery.channel} {delivery.target!r} is not configured"
                )
            else:
                result = await channel.deliver(delivery)
        await self._record(delivery, result)

    def _sends(self, due: list[Delivery]) -> list[Coroutine[Any, Any, None]]:
        """One send per row, except for channels with a budget (chat robots): rows beyond
        the budget are sent as digests, and what no digest fits in waits for the window."""
        sends: list[Coroutine[Any, Any, None]] = []
        budgeted: dict[tuple[str, str], list[Delivery]] = {}
        for d in due:
            channel = self._channels.get((d.channel, d.target))
            if isinstance(channel, Digesting):
                budgeted.setdefault((d.channel, d.target), []).append(d)
            else:
                sends.append(self._deliver(d))
        now = self._now()
        for key, rows in budgeted.items():
            channel = self._channels[key]
            assert isinstance(channel, Digesting)  # noqa: S101  # grouped as such above
            singles, digests, waiting = split_for_budget(
                rows, channel.budget.available(now), channel.digest_max_items
            )
            channel.budget.take(now, len(singles) + len(digests))
            sends += [self._deliver(d) for d in singles]
            sends += [self._deliver_digest(channel, group) for group in digests]
            if waiting:
                free_at = channel.budget.free_at(now)
                sends += [
                    self._record(d, Result(Outcome.DEFER, "over the send budget", free_at))
                    for d in waiting
                ]
        return sends

    async def _deliver_digest(self, channel: Digesting, rows: list[Delivery]) -> None:
        async with self._gate:
            result = await channel.deliver_digest(rows)
        log.info(
            "digest_sent target=%s rows=%s outcome=%s",
            rows[0].target,
            ",".join(str(d.id) for d in rows),
            result.outcome.value,
        )
        for d in rows:
            await self._record(d, result)

    async def _record(self, delivery: Delivery, result: Result) -> None:
        now = self._now()
        alerts = self._health.alerts
        if result.outcome == Outcome.DEFER and result.retry_at is not None:
            # not an attempt: nothing was sent (quiet hours, send budget)
            await asyncio.to_thread(self._store.defer, delivery.id, result.retry_at, result.detail)
            log.info(
                "delivery_deferred delivery_id=%s alert_id=%s target=%s until=%s reason=%s",
                delivery.id,
                delivery.alert_id,
                delivery.target,
                result.retry_at.isoformat(),
                result.detail,
            )
            return
        if result.outcome == Outcome.DELIVERED:
            await asyncio.to_thread(self._store.mark_delivered, delivery.id, now)
            alerts.delivered(delivery.channel, (now - delivery.created_at).total_seconds())
            log.info(
                "delivered delivery_id=%s alert_id=%s event=%s target=%s attempts=%s",
                delivery.id,
                delivery.alert_id,
                delivery.event,
                delivery.target,
                delivery.attempts + 1,
            )
            return
        attempts = delivery.attempts + 1
        limit = self._settings.max_attempts
        if result.outcome == Outcome.GIVE_UP or (limit and attempts >= limit):
            await asyncio.to_thread(self._store.mark_failed, delivery.id, result.detail, None)
            alerts.deliveries_dead += 1
            log.warning(
                "delivery_dead delivery_id=%s alert_id=%s target=%s attempts=%s error=%s",
                delivery.id,
                delivery.alert_id,
                delivery.target,
                attempts,
                result.detail,
            )
            return
        retry_at = now + timedelta(seconds=backoff_s(attempts, self._settings, self._rng))
        await asyncio.to_thread(self._store.mark_failed, delivery.id, result.detail, retry_at)
        alerts.deliveries_retried += 1
        log.info(
            "delivery_retry delivery_id=%s alert_id=%s target=%s attempts=%s retry_at=%s error=%s",
            delivery.id,
            delivery.alert_id,
            delivery.target,
            attempts,
            retry_at.isoformat(),
            result.detail,
        )
