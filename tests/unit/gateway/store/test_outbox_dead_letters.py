"""Dead letters: listed with their error, revived only from state dead (never a delivered
row); outcomes written in one batch: delivered, retried, given up, deferred."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.store import Store
from gateway.store.records import Delivery, Outcome, OutcomeKind
from gateway.store.step import StepWrite
from tests.unit.gateway.alertkit import T0, raised, stage


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "g.db")
    alert = raised(s, stage(s))
    s.write(
        StepWrite(
            deliveries=[
                Delivery(101, alert.id, "alert.raised", "wecom", "grid", "{}", "k-wx", 0, T0, T0),
                Delivery(102, alert.id, "alert.raised", "sms", "sms", "{}", "k-sms", 0, T0, T0),
            ]
        )
    )
    yield s
    s.close()


def record(store: Store, *outcomes: Outcome) -> None:
    store.write(StepWrite(outcomes=list(outcomes)))


def test_dead_letter_is_listed_and_revival_resets_it_to_pending(store: Store) -> None:
    record(
        store,
        Outcome(101, OutcomeKind.DEAD, T0, "errcode 93000: invalid webhook url"),
        Outcome(102, OutcomeKind.DELIVERED, T0),
    )

    [dead] = store.outbox.dead_letters()
    assert (dead.id, dead.channel, dead.target, dead.attempts) == (101, "wecom", "grid", 1)
    assert dead.error == "errcode 93000: invalid webhook url"

    later = T0 + timedelta(minutes=5)
    state, row = store.outbox.revive(101, later)
    assert state == "pending"
    assert row is not None
    assert (row.id, row.attempts, row.next_attempt_at) == (101, 0, later)
    assert store.outbox.dead_letters() == []


def test_revival_never_moves_a_delivered_or_pending_row(store: Store) -> None:
    record(store, Outcome(102, OutcomeKind.DELIVERED, T0))

    assert store.outbox.revive(102, T0) == ("delivered", None)
    assert store.outbox.revive(101, T0) == ("pending", None)  # was pending already: unchanged
    assert store.outbox.revive(999, T0) == (None, None)
    counts = store.outbox.counts()
    assert (counts["pending"], counts["delivered"], counts["dead"]) == (2, 1, 0)


def test_a_deferral_moves_the_next_try_without_counting_an_attempt(store: Store) -> None:
    later = T0 + timedelta(hours=1)
    record(store, Outcome(101, OutcomeKind.DEFERRED, T0, "quiet hours", later))

    row = store.outbox.get(101)
    assert row is not None
    assert (row.attempts, row.next_attempt_at) == (0, later)


def test_a_retry_counts_an_attempt_and_keeps_its_time(store: Store) -> None:
    later = T0 + timedelta(seconds=30)
    record(store, Outcome(101, OutcomeKind.RETRY, T0, "HTTP 503", later))

    row = store.outbox.get(101)
    assert row is not None
    assert (row.attempts, row.next_attempt_at) == (1, later)


def test_a_delivery_queued_twice_under_one_key_is_queued_once(store: Store) -> None:
    again = Delivery(103, 1, "alert.raised", "wecom", "grid", "{}", "k-wx", 0, T0, T0)

    queued = store.write(StepWrite(deliveries=[again]))

    assert queued == []
    assert store.outbox.get(103) is None
