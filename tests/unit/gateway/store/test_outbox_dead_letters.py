"""Dead letters: listed with their error, retried only from state dead (never a delivered row)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.alerts.model import Alert
from gateway.config import DEFAULT_SITE
from gateway.places.site import load_site
from gateway.store.db import Batch, OutboxEntry, RaisedEvent, Store
from rules.engine import AlertEvent, EventType
from rules.model import Severity

T0 = datetime(2026, 3, 2, 2, 0, 0, tzinfo=UTC)


def route(alert: Alert, event: str) -> list[OutboxEntry]:
    return [
        OutboxEntry("wecom", "grid", {"event": event}, f"a{alert.id}-{event}-wx"),
        OutboxEntry("sms", "sms", {"event": event}, f"a{alert.id}-{event}-sms"),
    ]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "g.db")
    placement = load_site(DEFAULT_SITE).placement("smoke-b1-u1")
    assert placement is not None
    raised = AlertEvent(
        type=EventType.RAISED,
        rule_id="smoke_detected",
        device_id="smoke-b1-u1",
        kind=placement.kind,
        severity=Severity.CRITICAL,
        opened_at=T0,
        at=T0,
        due_at=None,
    )
    s.apply(Batch(events=[RaisedEvent(raised, placement, "烟雾报警", "Smoke")]), T0, route)
    yield s
    s.close()


def test_dead_letter_is_listed_and_retry_resets_it_to_pending(store: Store) -> None:
    wx, sms = store.due_deliveries(T0)
    store.mark_failed(wx.id, "errcode 93000: invalid webhook url", None)
    store.mark_delivered(sms.id, T0)

    [dead] = store.dead_letters()
    assert (dead.id, dead.channel, dead.target, dead.attempts) == (wx.id, "wecom", "grid", 1)
    assert dead.error == "errcode 93000: invalid webhook url"

    later = T0 + timedelta(minutes=5)
    assert store.retry_dead(wx.id, later) == "pending"
    assert store.dead_letters() == []
    [again] = store.due_deliveries(later)
    assert (again.id, again.attempts) == (wx.id, 0)


def test_retry_never_moves_a_delivered_or_pending_row(store: Store) -> None:
    wx, sms = store.due_deliveries(T0)
    store.mark_delivered(sms.id, T0)

    assert store.retry_dead(sms.id, T0) == "delivered"
    assert store.retry_dead(wx.id, T0) == "pending"  # was pending already: unchanged
    assert store.retry_dead(999, T0) is None
    assert store.outbox_counts() == {"pending": 1, "delivered": 1, "dead": 0}


def test_defer_moves_the_next_try_without_counting_an_attempt(store: Store) -> None:
    wx, _ = store.due_deliveries(T0)
    store.defer(wx.id, T0 + timedelta(hours=1), "quiet hours")

    assert [d.id for d in store.due_deliveries(T0 + timedelta(minutes=59))] != [wx.id]
    due = {d.id: d for d in store.due_deliveries(T0 + timedelta(hours=1))}
    assert due[wx.id].attempts == 0
