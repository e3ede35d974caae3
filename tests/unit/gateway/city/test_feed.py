"""The city feed on a gateway: one row per alert and case event, written with the change
and numbered 1, 2, 3 ... in the transaction that writes it (never twice, never skipped);
an escalation to the street goes up as the hand-off; rows survive a reopened store and
the old outbox (migration 8) moves to 9 whole."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.alerts.escalation import AlertPolicy
from gateway.city import envelope
from gateway.city.feed import CHANNEL, Feed
from gateway.city.ownership import HANDOFF_LEVEL
from gateway.city.records import alert_of
from gateway.pipeline.alerting import AlertStage
from gateway.store import Store
from gateway.store.records import Delivery
from gateway.store.schema import MIGRATIONS
from gateway.store.step import StepWrite
from rules.engine import EventType
from tests.unit.gateway.alertkit import DUE, T0, at, item, stage


def feed_of(store: Store) -> tuple[Feed, AlertStage]:
    made = stage(store)
    feed = Feed("c-test", made.delivery_ids.take, lambda now: {"devices": 3}, timedelta(hours=1))
    made.follow(feed)
    return feed, made


def fed(store: Store) -> list[Delivery]:
    return [d for d in store.outbox.pending() if d.is_feed]


def test_each_alert_event_is_one_feed_row_numbered_in_order_with_its_whole_record(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "g.db")
    _, made = feed_of(store)
    for when, type_ in ((DUE, EventType.RAISED), (at(400), EventType.CLEARED)):
        write = StepWrite()
        made.on_events(write, [item(type_, when)], when)
        queued = store.write(write)
        assert [d.seq for d in queued if d.is_feed] == [len(fed(store))]
    rows = fed(store)
    assert [(d.seq, d.event) for d in rows] == [(1, "alert.raised"), (2, "alert.cleared")]
    assert all((d.channel, d.target) == (CHANNEL, CHANNEL) for d in rows)
    message = json.loads(envelope.encode(rows[1]))
    assert (message["id"], message["gateway"], message["seq"]) == ("c-test:2", "c-test", 2)
    alert = alert_of(message["alert"])
    assert (alert.state.value, alert.cleared_at) == ("cleared", at(400))
    assert alert.place
    assert alert.location[0].level.value == "district"
    store.close()


def test_a_repeated_key_takes_no_number_and_numbers_go_on_after_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    store = Store(path)
    row = Delivery(1, 0, "devices.health", CHANNEL, CHANNEL, '{"gateway": "g"}', "city:1", 0,
                   T0, T0, is_feed=True)  # fmt: skip
    again = Delivery(2, 0, "devices.health", CHANNEL, CHANNEL, '{"gateway": "g"}', "city:1", 0,
                     T0, T0, is_feed=True)  # fmt: skip
    third = Delivery(3, 0, "devices.health", CHANNEL, CHANNEL, '{"gateway": "g"}', "city:3", 0,
                     T0, T0, is_feed=True)  # fmt: skip
    queued = store.write(StepWrite(deliveries=[row, again, third]))
    assert [(d.id, d.seq) for d in queued] == [(1, 1), (3, 2)]
    store.close()
    store = Store(path)
    four = Delivery(4, 0, "devices.health", CHANNEL, CHANNEL, '{"gateway": "g"}', "city:4", 0,
                    T0, T0, is_feed=True)  # fmt: skip
    assert [d.seq for d in store.write(StepWrite(deliveries=[four]))] == [3]
    assert [(d.id, d.seq, d.order_key) for d in fed(store)] == [(1, 1, 0), (3, 2, 0), (4, 3, 0)]
    store.close()


def test_a_failed_step_gives_no_number(tmp_path: Path) -> None:
    store = Store(tmp_path / "g.db")
    good = Delivery(1, 0, "devices.health", CHANNEL, CHANNEL, "{}", "city:1", 0, T0, T0,
                    is_feed=True)  # fmt: skip
    # an outbox row about an alert that does not exist: the foreign key fails the step
    bad = Delivery(2, 999, "alert.raised", "webhook", "ops", "{}", "k-2", 0, T0, T0)
    try:
        store.write(StepWrite(deliveries=[bad, good]))
    except sqlite3.IntegrityError:
        pass
    else:
        raise AssertionError("the step should have failed")
    assert fed(store) == []
    assert [d.seq for d in store.write(StepWrite(deliveries=[good]))] == [1]
    store.close()


def test_an_escalation_to_the_street_is_sent_as_the_hand_off(tmp_path: Path) -> None:
    store = Store(tmp_path / "g.db")
    made = stage(store, AlertPolicy())
    feed = Feed("c-test", made.delivery_ids.take, lambda now: {}, timedelta(hours=1))
    made.follow(feed)
    write = StepWrite()
    made.on_events(write, [item(EventType.RAISED, DUE)], DUE)
    store.write(write)
    events = []
    now = DUE
    for _ in range(6):  # nobody acknowledges: it climbs the ladder
        now += timedelta(hours=1)
        write = StepWrite()
        made.on_deadlines(write, now)
        store.write(write)
    for d in fed(store):
        level = json.loads(d.body).get("alert", {}).get("escalation_level")
        events.append((d.event, level))
    climbed = [e for e in events if e[0] in ("alert.escalated", "alert.handed_off")]
    assert ("alert.handed_off", HANDOFF_LEVEL) in climbed
    assert all(level < HANDOFF_LEVEL for e, level in climbed if e == "alert.escalated")
    assert [e for e in events if e[0] == "devices.health"], "a health summary is in the feed"
    store.close()


def test_migration_9_keeps_every_outbox_row_of_8(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:8], start=1):
        db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")
    db.execute(
        "INSERT INTO cases (id, state, source, category, major, node_ids, people, reported_at, "
        "record) VALUES (1, 'filed', 'patrol', 'x', 'y', '/d1/', '/', '2026-01-01', '{}')"
    )
    db.execute(
        "INSERT INTO outbox (id, case_id, event, channel, target, body, idempotency_key, "
        "state, next_attempt_at, created_at) VALUES (5, 1, 'case.filed', 'webhook', 'ops', "
        "'{}', 'k5', 'pending', '2026-01-01', '2026-01-01')"
    )
    db.commit()
    db.close()
    store = Store(path)
    [row] = store.outbox.pending()
    assert (row.id, row.case_id, row.is_feed, row.seq) == (5, 1, False, None)
    store.close()
    with closing(sqlite3.connect(path)) as db:  # and every later migration ran after it
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_step_with_its_timers_held_back_sends_no_health_summary(tmp_path: Path) -> None:
    """Held back (a backlog, or the broker's queue still to read after a start), a step's
    deadlines run at the earliest instant: the first summary waits for a real one."""
    feed = Feed("c-test", iter(range(1, 100)).__next__, lambda now: {"devices": 3}, timedelta(1))
    held = StepWrite()
    feed.on_deadlines(held, datetime.min.replace(tzinfo=UTC))
    assert held.deliveries == []

    step = StepWrite()
    feed.on_deadlines(step, T0)
    [row] = step.deliveries
    assert (row.event, row.created_at) == ("devices.health", T0)
    again = StepWrite()
    feed.on_deadlines(again, T0 + timedelta(minutes=5))  # not due again within the hour
    assert again.deliveries == []
