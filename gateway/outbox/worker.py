"""The outbox worker: delivers queued rows through their channel, retries with backoff,
records what became of them.

Rows are written in the same transaction as the change they describe; the worker gets
them once that transaction is committed (`add`), and at start every row still pending
(`load`). It keeps them in memory, one queue per target (a channel instance), and one
sender task per target sends what is due:

- order per alert and target: a row waits while an earlier row of its alert for that
  target is not delivered (or given up); a batch (webhook version 2) carries an alert's
  rows in order;
- bounded concurrency per target (`Channel.concurrency`, over the HTTP client's kept-alive
  connections), and one batch per send where the channel takes several rows at once
  (`Batching`); chat robots with a send budget get digests (`Digesting`);
- backoff doubles from `retry_min_s` up to `retry_max_s`, with full jitter on the upper
  half; after `max_attempts` (when set) a row becomes a dead letter; a DEFER answer
  (quiet hours, budget spent) moves a row's next try without counting an attempt.

Outcomes are written in batches, a transaction per `FLUSH_EVERY_S` or `FLUSH_ROWS`, not
one per delivery; a crash between a delivery and its record sends it again after the
restart, under the same idempotency key (at least once; receivers drop repeats).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from gateway.channels.base import Batching, Channel, Digesting, Outcome, Result
from gateway.config import OutboxSettings
from gateway.errors import StoreUnavailable
from gateway.runtime.clock import wait_or_timeout
from gateway.runtime.stats import Health
from gateway.store import Store
from gateway.store.records import Delivery, OutcomeKind
from gateway.store.records import Outcome as Recorded
from gateway.store.step import StepWrite
from gateway.store.writer import Writer

log = logging.getLogger(__name__)

IDLE_POLL_S = 30.0
MIN_WAIT_S = 0.01
FLUSH_EVERY_S = 0.05
FLUSH_ROWS = 500
FEED_RETRY_MAX_S = 10.0  # the city feed's longest wait between tries

Target = tuple[str, str]  # (channel type, instance name)


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


def batches(rows: list[Delivery], per_send: int, sends: int) -> list[list[Delivery]]:
    """Up to `sends` batches of up to `per_send` rows, in order, each alert's rows in one
    batch: the batches go at once, and a raise and its clear in two of them could arrive
    the wrong way round (and the first to finish would free the alert for its other rows,
    still in flight, to go again). A row whose alert's batch is full waits for the next
    round, and so do the alert's rows after it."""
    out: list[list[Delivery]] = []
    batch_of: dict[int, list[Delivery]] = {}
    for row in rows:
        batch = batch_of.get(row.order_key)
        if batch is None:
            if not out or len(out[-1]) >= per_send:
                if len(out) >= sends:
                    continue
                out.append([])
            batch = batch_of[row.order_key] = out[-1]
        elif len(batch) >= per_send:
            continue
        batch.append(row)
    return out


def backoff_s(attempts: int, settings: OutboxSettings, rng: random.Random) -> float:
    """Delay before the next try after `attempts` failed ones (>= 1)."""
    ceiling = min(settings.retry_max_s, settings.retry_min_s * 2.0 ** min(attempts - 1, 30))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass
class _Queue:
    """The pending rows of one target, in id order, and what is being sent."""

    rows: list[Delivery] = field(default_factory=list)
    sending: set[int] = field(default_factory=set)  # alert ids with a row in flight
    in_flight: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def sendable(self, now: datetime, limit: int, *, several_per_alert: bool) -> list[Delivery]:
        """Due rows that may go now, oldest first: none of an alert with a row in flight or
        an earlier row not due yet; several rows of one alert only where they go in one
        send, in order."""
        out: list[Delivery] = []
        blocked: set[int] = set(self.sending)
        taken: set[int] = set()
        for row in self.rows:
            if len(out) >= limit:
                break
            alert = row.order_key  # the alert or the case (Delivery.order_key)
            if alert in blocked:
                continue
            if row.next_attempt_at > now or (alert in taken and not several_per_alert):
                blocked.add(alert)
                continue
            taken.add(alert)
            out.append(row)
        return out

    def next_at(self) -> datetime | None:
        """When a row may next be sent: the earliest due time of each alert's first row
        (later rows of an alert wait for it; an alert with a row in flight waits for
        that send to end, which wakes the sender)."""
        first: dict[int, datetime] = {}
        for r in self.rows:
            if r.order_key not in self.sending and r.order_key not in first:
                first[r.order_key] = r.next_attempt_at
        return min(first.values()) if first else None


class OutboxWorker:
    def __init__(
        self,
        store: Store,
        writer: Writer,
        channels: dict[Target, Channel],
        settings: OutboxSettings,
        health: Health,
        now: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._writer = writer
        self._channels = channels
        self._settings = settings
        self._health = health
        self._now = now
        self._rng = random.Random()  # noqa: S311  # jitter, not security
        self._queues: dict[Target, _Queue] = {}
        self._senders: dict[Target, asyncio.Task[None]] = {}
        self._recorded: list[Recorded] = []
        self._sends: set[asyncio.Task[None]] = set()  # sends in flight, with their recording
        self._flush_wake = asyncio.Event()
        self._is_closing = False

    # ---- rows in --------------------------------------------------------------------------

    def load(self) -> None:
        """Every row still pending (blocking: at start, before the loop runs)."""
        pending = self._store.outbox.pending()
        for row in pending:
            self._queue((row.channel, row.target)).rows.append(row)
        log.info("outbox_loaded pending=%d", len(pending))

    def add(self, rows: list[Delivery]) -> None:
        """Rows just committed (on the loop)."""
        touched: set[Target] = set()
        for row in rows:
            target = (row.channel, row.target)
            queue = self._queue(target)
            if queue.rows and queue.rows[-1].id > row.id:
                queue.rows.append(row)
                queue.rows.sort(key=lambda r: r.id)
            else:
                queue.rows.append(row)
            touched.add(target)
        for target in touched:
            self._queues[target].wake.set()
            self._start(target)

    def revive(self, row: Delivery) -> None:
        """A dead letter put back to pending (from an API thread: call on the loop)."""
        self.add([row])

    def _queue(self, target: Target) -> _Queue:
        queue = self._queues.get(target)
        if queue is None:
            queue = self._queues[target] = _Queue()
        return queue

    def pending(self) -> int:
        return sum(len(q.rows) for q in self._queues.values())

    # ---- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Start a sender per target with rows, and write outcomes until closed."""
        for target in list(self._queues):
            self._start(target)
        try:
            while not self._is_closing:
                self._flush_wake.clear()
                await wait_or_timeout(self._flush_wake, FLUSH_EVERY_S)
                await self._flush()
        finally:
            await self._flush()

    def close(self) -> None:
        """Stop taking rows: sends in flight finish and are recorded by `drain`."""
        self._is_closing = True
        self._flush_wake.set()
        for queue in self._queues.values():
            queue.wake.set()

    async def drain(self, timeout_s: float) -> None:
        """Wait for the sends in flight to finish, then write every outcome."""
        for task in self._senders.values():
            task.cancel()
        if self._sends:
            await asyncio.wait(list(self._sends), timeout=timeout_s)
        await self._flush()

    def _start(self, target: Target) -> None:
        if self._is_closing:
            return
        task = self._senders.get(target)
        if task is None or task.done():
            self._senders[target] = asyncio.create_task(
                self._send_loop(target), name=f"outbox-{target[0]}-{target[1]}"
            )

    async def _send_loop(self, target: Target) -> None:
        queue = self._queues[target]
        channel = self._channels.get(target)
        while not self._is_closing:
            queue.wake.clear()
            if channel is None:
                self._give_up_all(target, queue)
                return
            started = await self._round(target, queue, channel)
            if self._is_closing:
                break
            next_at = queue.next_at()
            if queue.in_flight >= getattr(channel, "concurrency", 1) or next_at is None:
                timeout = IDLE_POLL_S  # a send finishing, or a new row, wakes us
            else:
                timeout = max(0.0, (next_at - self._now()).total_seconds())
                if not started:  # due by the clock, yet nothing could go: never spin
                    timeout = max(timeout, MIN_WAIT_S)
            if timeout > 0:
                await wait_or_timeout(queue.wake, timeout)

    async def _round(self, target: Target, queue: _Queue, channel: Channel) -> int:
        """Start the sends that may go now, up to the channel's concurrency; how many."""
        now = self._now()
        concurrency = getattr(channel, "concurrency", 1)
        room = concurrency - queue.in_flight
        if room <= 0:
            return 0
        before = queue.in_flight
        if isinstance(channel, Batching):
            per_send = channel.max_batch
            rows = queue.sendable(now, room * per_send, several_per_alert=True)
            for group in batches(rows, per_send, room):
                self._launch(queue, group, self._send_batch(channel, group))
            return queue.in_flight - before
        rows = queue.sendable(now, room * 50, several_per_alert=False)
        if isinstance(channel, Digesting):
            singles, digests, waiting = split_for_budget(
                rows, channel.budget.available(now), channel.digest_max_items
            )
            channel.budget.take(now, len(singles) + len(digests))
            for d in singles[:room]:
                self._launch(queue, [d], self._send_one(channel, d))
            for group in digests:
                self._launch(queue, group, self._send_digest(channel, group))
            if waiting:
                free_at = channel.budget.free_at(now)
                for d in waiting:
                    self._settle(queue, d, Result(Outcome.DEFER, "over the send budget", free_at))
            return queue.in_flight - before + len(waiting)
        for d in rows[:room]:
            self._launch(queue, [d], self._send_one(channel, d))
        return queue.in_flight - before

    def _launch(
        self, queue: _Queue, rows: list[Delivery], send: Coroutine[Any, Any, Result]
    ) -> None:
        queue.in_flight += 1
        for row in rows:
            queue.sending.add(row.order_key)

        async def finish() -> None:
            try:
                result = await send
            except Exception as exc:  # a channel's bug must not stop the outbox
                log.exception("delivery_failed_unexpectedly rows=%d", len(rows))
                result = Result(Outcome.RETRY, f"{type(exc).__name__}: {exc}"[:300])
            finally:
                queue.in_flight -= 1
                for row in rows:
                    queue.sending.discard(row.order_key)
            for row in rows:
                self._settle(queue, row, result)
            queue.wake.set()

        task = asyncio.create_task(finish())
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send_one(self, channel: Channel, row: Delivery) -> Result:
        return await channel.deliver(row)

    async def _send_batch(self, channel: Batching, rows: list[Delivery]) -> Result:
        return await channel.deliver_batch(rows)

    async def _send_digest(self, channel: Digesting, rows: list[Delivery]) -> Result:
        result = await channel.deliver_digest(rows)
        log.info(
            "digest_sent target=%s rows=%s outcome=%s",
            rows[0].target,
            ",".join(str(d.id) for d in rows),
            result.outcome.value,
        )
        return result

    # ---- outcomes --------------------------------------------------------------------------

    def _settle(self, queue: _Queue, row: Delivery, result: Result) -> None:
        """What a send's result means for the row: gone from the queue, or back in it later."""
        now = self._now()
        alerts = self._health.alerts
        if result.outcome == Outcome.DEFER and result.retry_at is not None:
            # not an attempt: nothing was sent (quiet hours, send budget)
            self._move(queue, row, replace(row, next_attempt_at=result.retry_at))
            self._record(
                Recorded(row.id, OutcomeKind.DEFERRED, now, result.detail, result.retry_at)
            )
            log.info(
                "delivery_deferred delivery_id=%s alert_id=%s target=%s until=%s reason=%s",
                row.id, row.alert_id, row.target, result.retry_at.isoformat(), result.detail,
            )  # fmt: skip
            return
        if result.outcome == Outcome.DELIVERED:
            self._drop(queue, row)
            self._record(Recorded(row.id, OutcomeKind.DELIVERED, now))
            alerts.delivered(row.channel, (now - row.created_at).total_seconds())
            log.debug(
                "delivered delivery_id=%s alert_id=%s event=%s target=%s attempts=%s",
                row.id, row.alert_id, row.event, row.target, row.attempts + 1,
            )  # fmt: skip
            return
        attempts = row.attempts + 1
        # the city feed is never given up: its order is the gateway's, a dead row would be a
        # gap for good (gateway/city/link.py never answers GIVE_UP)
        limit = 0 if row.is_feed else self._settings.max_attempts
        if result.outcome == Outcome.GIVE_UP or (limit and attempts >= limit):
            self._drop(queue, row)
            self._record(Recorded(row.id, OutcomeKind.DEAD, now, result.detail))
            alerts.deliveries_dead += 1
            log.warning(
                "delivery_dead delivery_id=%s alert_id=%s target=%s attempts=%s error=%s",
                row.id, row.alert_id, row.target, attempts, result.detail,
            )  # fmt: skip
            return
        delay_s = backoff_s(attempts, self._settings, self._rng)
        if row.is_feed:  # the whole feed waits behind its first row: catch up soon after
            delay_s = min(delay_s, FEED_RETRY_MAX_S)
        retry_at = now + timedelta(seconds=delay_s)
        self._move(queue, row, replace(row, attempts=attempts, next_attempt_at=retry_at))
        self._record(Recorded(row.id, OutcomeKind.RETRY, now, result.detail, retry_at))
        alerts.deliveries_retried += 1
        log.info(
            "delivery_retry delivery_id=%s alert_id=%s target=%s attempts=%s retry_at=%s error=%s",
            row.id, row.alert_id, row.target, attempts, retry_at.isoformat(), result.detail,
        )  # fmt: skip

    def _drop(self, queue: _Queue, row: Delivery) -> None:
        with contextlib.suppress(ValueError):
            queue.rows.remove(row)

    def _move(self, queue: _Queue, row: Delivery, moved: Delivery) -> None:
        for i, r in enumerate(queue.rows):
            if r.id == row.id:
                queue.rows[i] = moved
                return

    def _give_up_all(self, target: Target, queue: _Queue) -> None:
        for row in list(queue.rows):
            self._settle(
                queue, row, Result(Outcome.GIVE_UP, f"{target[0]} {target[1]!r} is not configured")
            )

    def _record(self, outcome: Recorded) -> None:
        self._recorded.append(outcome)
        if len(self._recorded) >= FLUSH_ROWS:
            self._flush_wake.set()

    async def _flush(self) -> None:
        if not self._recorded:
            return
        outcomes, self._recorded = self._recorded, []
        try:
            await self._writer.write(StepWrite(outcomes=outcomes))
        except StoreUnavailable as exc:  # only when stopping: those go again after a restart
            log.error("outbox_outcomes_unwritten rows=%d reason=%s", len(outcomes), exc.reason)
