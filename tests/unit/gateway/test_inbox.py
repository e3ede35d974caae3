"""The hand-over from MQTT reading to the pipeline: order, batches, the counts the timer
horizon reads, and a full inbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from gateway.ingest.mqtt import Inbox, Message
from gateway.runtime.stats import Health

NOW = datetime(2026, 3, 2, 2, 0, 0, tzinfo=UTC)


def message(n: int) -> Message:
    return Message(f"gridgate/v1/door-{n}/reading", b"{}", NOW, n, 1)


def test_messages_are_taken_oldest_first_in_batches_of_at_most_the_limit() -> None:
    inbox = Inbox(100, Health())
    for n in range(1, 8):
        inbox.put(message(n))
    assert [[m.mid for m in inbox.take_now(3)] for _ in range(4)] == [[1, 2, 3], [4, 5, 6], [7], []]
    assert (inbox.received, inbox.taken) == (7, 7)


def test_wait_returns_once_the_first_message_comes() -> None:
    async def run() -> list[int]:
        inbox = Inbox(100, Health())
        waiter = asyncio.create_task(inbox.wait())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        inbox.put(message(1))
        await asyncio.wait_for(waiter, 1)
        return [m.mid for m in inbox.take_now(10)]

    assert asyncio.run(run()) == [1]


def test_a_full_inbox_counts_the_pause_and_resumes_reading_once_taken_from() -> None:
    async def run() -> tuple[int, list[str]]:
        health = Health()
        inbox = Inbox(3, health)
        calls: list[str] = []
        for n in range(3):
            inbox.put(message(n))
        assert inbox.is_full
        inbox.when_room(lambda: calls.append("resumed"))
        assert calls == []  # still full: reading stays paused
        inbox.take_now(2)
        return health.ingest.inbox_full_waits, calls

    assert asyncio.run(run()) == (1, ["resumed"])
