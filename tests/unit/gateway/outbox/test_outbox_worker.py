"""The outbox worker: order per alert and target, retries and dead letters, batches, bounded
concurrency, and outcomes written a round at a time, over a real SQLite store. The
channels are the tests' own, implementing the channel interface."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gateway.channels.base import Channel, Outcome, Result
from gateway.config import OutboxSettings
from gateway.outbox.worker import OutboxWorker
from gateway.runtime.stats import Health
from gateway.store import Store
from gateway.store.records import Delivery
from gateway.store.step import StepWrite
from gateway.store.writer import Writer
from tests.unit.gateway.alertkit import T0, cleared, raised, stage

SETTINGS = OutboxSettings(retry_min_s=10, retry_max_s=10, max_attempts=3)


START = T0 + timedelta(seconds=1000)  # every row of the tests is due by then


class Clock:
    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> datetime:
        return self.at


class Recorder:
    """A channel that records what it is given and answers as told."""

    def __init__(self, name: str = "ops", concurrency: int = 1) -> None:
        self.name = name
        self.concurrency = concurrency
        self.sent: list[list[Delivery]] = []
        self.answer: Callable[[list[Delivery]], Result] = lambda rows: Result(Outcome.DELIVERED)
        self.in_flight = 0
        self.most_in_flight = 0
        self.gate: asyncio.Event | None = None  # hold sends until set

    async def deliver(self, delivery: Delivery) -> Result:
        return await self._send([delivery])

    async def _send(self, rows: list[Delivery]) -> Result:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            self.sent.append(rows)
            return self.answer(rows)
        finally:
            self.in_flight -= 1


class BatchRecorder(Recorder):
    max_batch = 3

    async def deliver_batch(self, deliveries: list[Delivery]) -> Result:
        return await self._send(deliveries)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "g.db")
    yield s
    s.close()


def run(
    store: Store,
    channel: Channel,
    body: Callable[[OutboxWorker, Clock], Awaitable[None]],
) -> None:
    async def main() -> None:
        writer = Writer(store, Health())
        clock = Clock()
        worker = OutboxWorker(
            store, writer, {("webhook", "ops"): channel}, SETTINGS, Health(), clock
        )
        worker.load()
        task = asyncio.create_task(worker.run())
        try:
            await body(worker, clock)
        finally:
            worker.close()
            await worker.drain(2)
            await asyncio.wait_for(task, 2)
            writer.close()

    asyncio.run(main())


async def until(condition: Callable[[], object], timeout_s: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.005)


def two_events_of_one_alert_and_one_of_another(store: Store) -> None:
    made = stage(store)
    raised(store, made)
    cleared(store, made, T0 + timedelta(seconds=400))
    raised(store, made, "door-b1-u2")


def test_a_later_event_of_an_alert_waits_for_the_earlier_delivery(store: Store) -> None:
    two_events_of_one_alert_and_one_of_another(store)
    channel = Recorder(concurrency=4)
    channel.gate = asyncio.Event()

    async def body(worker: OutboxWorker, clock: Clock) -> None:
        await until(lambda: channel.in_flight == 2)  # door-b1-u1's raise and door-b1-u2's
        await asyncio.sleep(0.05)
        assert channel.in_flight == 2  # the clear waits for its raise
        assert channel.gate is not None
        channel.gate.set()
        await until(lambda: len(channel.sent) == 3)

    run(store, channel, body)
    events = [(rows[0].alert_id, rows[0].event) for rows in channel.sent]
    first_alert = events[0][0] if events[0][1] == "alert.raised" else events[1][0]
    mine = [e for a, e in events if a == first_alert]
    assert mine == ["alert.raised", "alert.cleared"]
    assert store.outbox.counts() == {"pending": 0, "delivered": 3, "dead": 0}


def test_a_failed_delivery_waits_for_its_retry_and_keeps_later_events_back(store: Store) -> None:
    made = stage(store)
    raised(store, made)
    cleared(store, made, T0 + timedelta(seconds=400))
    channel = Recorder()
    failing = [True]
    channel.answer = lambda rows: (
        Result(Outcome.RETRY, "HTTP 503") if failing[0] else Result(Outcome.DELIVERED)
    )

    async def body(worker: OutboxWorker, clock: Clock) -> None:
        await until(lambda: len(channel.sent) == 1)
        await asyncio.sleep(0.1)
        assert len(channel.sent) == 1  # not again before its retry time; the clear waits
        failing[0] = False
        clock.at = START + timedelta(seconds=11)
        for rows in list(worker._queues.values()):  # the time moved: look again
            rows.wake.set()
        await until(lambda: len(channel.sent) == 3)

    run(store, channel, body)
    assert [rows[0].event for rows in channel.sent] == [
        "alert.raised",
        "alert.raised",
        "alert.cleared",
    ]
    with store.db.reading() as db:
        attempts = dict(db.execute("SELECT event, attempts FROM outbox").fetchall())
    assert attempts == {"alert.raised": 2, "alert.cleared": 1}


def test_a_delivery_past_its_attempts_is_a_dead_letter_that_can_be_revived(store: Store) -> None:
    raised(store, stage(store))
    channel = Recorder()
    channel.answer = lambda rows: Result(Outcome.GIVE_UP, "HTTP 410")

    async def body(worker: OutboxWorker, clock: Clock) -> None:
        await until(lambda: store.outbox.counts()["dead"] == 1)
        [dead] = store.outbox.dead_letters()
        assert (dead.attempts, dead.error) == (1, "HTTP 410")
        channel.answer = lambda rows: Result(Outcome.DELIVERED)
        state, row = store.outbox.revive(dead.id, clock())
        assert state == "pending"
        assert row is not None
        worker.revive(row)
        await until(lambda: store.outbox.counts()["delivered"] == 1)

    run(store, channel, body)
    assert len(channel.sent) == 2


def test_a_batching_receiver_gets_the_due_rows_together_in_order(store: Store) -> None:
    made = stage(store)
    for n in (1, 2):
        raised(store, made, f"door-b{n}-u1")
        cleared(store, made, T0 + timedelta(seconds=400 + n), f"door-b{n}-u1")
    channel = BatchRecorder()

    async def body(worker: OutboxWorker, clock: Clock) -> None:
        await until(lambda: sum(len(rows) for rows in channel.sent) == 4)

    run(store, channel, body)
    assert [len(rows) for rows in channel.sent] == [3, 1]  # max_batch 3
    flat = [r for rows in channel.sent for r in rows]
    assert [r.id for r in flat] == sorted(r.id for r in flat)
    for alert_id in {r.alert_id for r in flat}:
        assert [r.event for r in flat if r.alert_id == alert_id] == [
            "alert.raised",
            "alert.cleared",
        ]


class OverlapRecorder(BatchRecorder):
    """A batching channel whose sends take a while, noting alerts in two sends at once."""

    def __init__(self, concurrency: int) -> None:
        super().__init__(concurrency=concurrency)
        self.alerts_in_flight: set[int] = set()
        self.in_two_at_once: set[int] = set()
        self.batches_in_flight = self.most_batches_in_flight = 0

    async def deliver_batch(self, deliveries: list[Delivery]) -> Result:
        alerts = {r.alert_id for r in deliveries if r.alert_id is not None}
        self.in_two_at_once |= alerts & self.alerts_in_flight
        self.alerts_in_flight |= alerts
        self.batches_in_flight += 1
        self.most_batches_in_flight = max(self.most_batches_in_flight, self.batches_in_flight)
        try:
            await asyncio.sleep(0.01)
            return await self._send(deliveries)
        finally:
            self.alerts_in_flight -= alerts
            self.batches_in_flight -= 1


def test_batches_sent_at_once_never_split_an_alert_between_them(store: Store) -> None:
    made = stage(store)
    for n in (1, 2, 3):
        raised(store, made, f"door-b{n}-u1")
        cleared(store, made, T0 + timedelta(seconds=400 + n), f"door-b{n}-u1")
    channel = OverlapRecorder(concurrency=3)  # max_batch 3: six rows due, three sends at once

    async def body(worker: OutboxWorker, clock: Clock) -> None:
        await until(lambda: store.outbox.counts()["delivered"] == 6)

    run(store, channel, body)
    assert channel.in_two_at_once == set()
    assert channel.most_batches_in_flight > 1  # not vacuous: sends did overlap
    flat = [r for rows in channel.sent for r in rows]
    assert len(flat) == len({r.id for r in flat}) == 6  # each row sent once
    for alert_id in {r.alert_id for r in flat}:
        assert [r.event for r in flat if r.alert_id == alert_id] == [
            "alert.raised",
            "alert.cleared",
        ]


def test_sends_to_one_receiver_never_exceed_its_concurrency(store: Store) -> None:
    made = stage(store)
    for b in range(1, 4):
        for u in (1, 2):
            raised(store, made, f"door-b{b}-u{u}")
    channel = Recorder(concurrency=2)
    channel.gate = asyncio.Event()

    async def body(worker: OutboxWorker, clock: Clock) -> None:
        await until(lambda: channel.in_flight == 2)
        await asyncio.sleep(0.05)
        assert channel.gate is not None
        channel.gate.set()
        await until(lambda: len(channel.sent) == 6)

    run(store, channel, body)
    assert channel.most_in_flight == 2


def test_outcomes_are_written_a_round_at_a_time_not_one_transaction_each(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = stage(store)
    for b in range(1, 4):
        for u in (1, 2):
            raised(store, made, f"door-b{b}-u{u}")
    writes: list[int] = []  # outcomes per transaction that carried any
    original = Store.write_many

    def counting(self: Store, steps: list[StepWrite]) -> list[list[Delivery]]:
        outcomes = sum(len(step.outcomes) for step in steps)
        if outcomes:
            writes.append(outcomes)
        return original(self, steps)

    monkeypatch.setattr(Store, "write_many", counting)
    channel = BatchRecorder()

    async def body(worker: OutboxWorker, clock: Clock) -> None:
        await until(lambda: store.outbox.counts()["delivered"] == 6)

    run(store, channel, body)
    assert sum(writes) == 6
    assert len(writes) < 6
