"""The outbox worker: delivers pending rows through their channel, retries with backoff.

Rows are written in the same transaction as the alert change they describe, so nothing is
sent that was not recorded and nothing recorded is forgotten across restarts. Order per
alert and target holds (the store hands out a row only once the earlier ones are done).
Backoff doubles from `retry_min_s` up to `retry_max_s`, with full jitter on the upper
half; after `max_attempts` (when set) a row becomes a dead letter.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from gateway.channels.base import Channel, Outcome, Result
from gateway.clock import wait_or_timeout
from gateway.config import OutboxSettings
from gateway.errors import StoreUnavailable
from gateway.stats import Health
from gateway.store.db import Delivery, Store

log = logging.getLogger(__name__)

CONCURRENCY = 8
IDLE_POLL_S = 30.0


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

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await self._round()
            except StoreUnavailable as exc:
                log.warning("outbox_store_unavailable reason=%s", exc.reason)
                await asyncio.sleep(1.0)
            except Exception:  # the worker must outlive any one bad row
                log.exception("outbox_round_failed")
                await asyncio.sleep(1.0)

    async def _round(self) -> None:
        # clear before looking, so a wake-up during the look is not lost
        self._wake.clear()
        due = await asyncio.to_thread(self._store.due_deliveries, self._now())
        if due:
            await asyncio.gather(*(self._deliver(d) for d in due))
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
        now = self._now()
        alerts = self._health.alerts
        if result.outcome == Outcome.DELIVERED:
            await asyncio.to_thread(self._store.mark_delivered, delivery.id, now)
            alerts.deliveries_ok += 1
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
