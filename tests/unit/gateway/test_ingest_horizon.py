"""How far hold timers may fire (gateway/ingest/horizon.py): up to the latest read of the
socket to the end whose messages are all applied, whatever arrived after it; never past a
message that had arrived before and still waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.ingest.horizon import Arrivals

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_nothing_may_fire_before_a_first_drain() -> None:
    assert Arrivals().until(5) is None


def test_a_drain_counts_once_every_message_read_before_it_is_applied() -> None:
    arrivals = Arrivals()
    arrivals.drained(at(1), received=10)  # messages 1-10 arrived before 1 s
    arrivals.drained(at(2), received=20)  # 11-20 after it, still in the inbox
    assert arrivals.until(9) is None  # the 10th, read before 1 s, may be the close
    assert arrivals.until(10) == at(1)  # the inbox is not empty, yet timers due by 1 s go
    assert arrivals.until(19) == at(1)
    assert arrivals.until(20) == at(2)


def test_the_horizon_never_moves_back_and_forgets_overtaken_drains() -> None:
    arrivals = Arrivals()
    for second in range(1, 6):
        arrivals.drained(at(second), received=100 * second)
    assert arrivals.until(300) == at(3)
    assert arrivals.until(300) == at(3)  # asked again: the same
    assert arrivals.until(500) == at(5)
    assert len(arrivals._drains) == 1  # only the latest one that counts is kept


def test_drains_with_nothing_new_are_one_drain_moved_later() -> None:
    arrivals = Arrivals()
    for second in range(1, 100):
        arrivals.drained(at(second), received=3)
    assert len(arrivals._drains) == 1
    assert arrivals.until(3) == at(99)
    arrivals.drained(at(50), received=3)  # an older read's stamp does not move it back
    assert arrivals.until(3) == at(99)
