"""The SQLite store: alerts with dedup and audit trail, rule tracks, device states, outbox."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.alerts.lifecycle import Action
from gateway.alerts.model import Alert, AlertState
from gateway.alerts.routing import Router
from gateway.config import DEFAULT_SITE, WebhookTarget
from gateway.errors import AlertNotFound, InvalidTransition
from gateway.pipeline.devices import DeviceState
from gateway.places.roster import Roster
from gateway.places.site import Level, Site, load_site
from gateway.store.db import Batch, OutboxEntry, RaisedEvent, Store
from rules.engine import AlertEvent, EventType, Track
from rules.model import Severity
from sensors.kinds import Kind

T0 = datetime(2026, 3, 2, 2, 0, 0, tzinfo=UTC)
DUE = T0 + timedelta(seconds=180)
ROUTE = Router(
    webhooks=[WebhookTarget(name="ops", url="http://127.0.0.1:9/hook")],
    channels=[],
    roster=Roster.empty(),
    tz=ZoneInfo("Asia/Shanghai"),
    now=lambda: datetime.now(UTC),
)
DOOR = "door-b1-u1"
RULE = "door_left_open"


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(DEFAULT_SITE)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "g.db")
    yield s
    s.close()


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def event(
    site: Site,
    type_: EventType,
    when: datetime,
    device_id: str = DOOR,
    rule_id: str = RULE,
) -> RaisedEvent:
    placement = site.placement(device_id)
    assert placement is not None
    return RaisedEvent(
        event=AlertEvent(
            type=type_,
            rule_id=rule_id,
            device_id=device_id,
            kind=placement.kind,
            severity=Severity.WARNING,
            opened_at=T0,
            at=when,
            due_at=DUE,
        ),
        placement=placement,
        title_zh="门未关闭",
        title_en="Door left open",
    )


def raise_alert(store: Store, site: Site, device_id: str = DOOR) -> Alert:
    [alert] = store.apply(Batch(events=[event(site, EventType.RAISED, DUE, device_id)]), DUE, ROUTE)
    return alert


def clear_alert(store: Store, site: Site, when: datetime, device_id: str = DOOR) -> list[Alert]:
    return store.apply(Batch(events=[event(site, EventType.CLEARED, when, device_id)]), when, ROUTE)


# ---- the file ------------------------------------------------------------------------


def test_database_runs_in_wal_mode(store: Store) -> None:
    with closing(sqlite3.connect(store.path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_empty_batch_is_falsy_and_a_filled_one_is_not() -> None:
    assert not Batch()
    assert Batch(tracks=[((RULE, DOOR), None)])


# ---- alerts ----------------------------------------------------------------------------


def test_raised_event_creates_an_alert_with_its_location_and_place(
    store: Store, site: Site
) -> None:
    alert = raise_alert(store, site)

    assert alert.state == AlertState.RAISED
    assert alert.is_active
    assert (alert.rule_id, alert.device_id, alert.kind) == (RULE, DOOR, "door")
    assert (alert.title_zh, alert.title_en) == ("门未关闭", "Door left open")
    assert [n.id for n in alert.location] == ["d1", "s1", "c1", "g1", "b1", "b1-u1"]
    assert alert.location[-1].level == Level.UNIT
    assert alert.place == "光明社区 / 第1网格 / 1号楼 / 1单元 / 单元门"
    assert (alert.opened_at, alert.due_at, alert.raised_at) == (T0, DUE, DUE)
    assert store.get_alert(alert.id) == alert


def test_second_raise_for_an_active_alert_is_deduplicated(store: Store, site: Site) -> None:
    first = raise_alert(store, site)

    again = store.apply(Batch(events=[event(site, EventType.RAISED, at(600))]), at(600), ROUTE)

    assert again == []
    assert [a.id for a in store.list_alerts()] == [first.id]
    assert len(store.due_deliveries(at(600))) == 1
    assert [t.action for t in store.transitions(first.id)] == ["raise"]


def test_same_rule_on_another_device_is_a_separate_alert(store: Store, site: Site) -> None:
    first = raise_alert(store, site)
    second = raise_alert(store, site, "door-b1-u2")

    assert second.id != first.id
    assert [a.device_id for a in store.list_alerts(node_id="b1-u2")] == ["door-b1-u2"]
    assert {a.device_id for a in store.list_alerts(node_id="b1")} == {DOOR, "door-b1-u2"}


def test_cleared_event_sets_cleared_at_and_state(store: Store, site: Site) -> None:
    alert = raise_alert(store, site)

    [cleared] = clear_alert(store, site, at(400))

    assert cleared.id == alert.id
    assert cleared.state == AlertState.CLEARED
    assert cleared.cleared_at == at(400)
    assert not cleared.is_active
    assert [t.action for t in store.transitions(alert.id)] == ["raise", "clear"]


def test_clear_without_an_active_alert_changes_nothing(store: Store, site: Site) -> None:
    assert clear_alert(store, site, at(400)) == []
    assert store.list_alerts() == []


def test_a_condition_back_soon_after_it_cleared_reopens_the_same_alert(
    store: Store, site: Site
) -> None:
    first = raise_alert(store, site)
    clear_alert(store, site, at(100))  # before DUE: the reopen window looks back from DUE

    second = raise_alert(store, site)

    assert second.id == first.id
    assert second.reopened == 1
    assert second.state == AlertState.RAISED
    assert second.cleared_at is None
    assert [t.action for t in store.transitions(first.id)] == ["raise", "clear", "reopen"]


def test_a_condition_back_after_the_reopen_window_opens_a_new_alert(
    store: Store, site: Site
) -> None:
    first = raise_alert(store, site)
    clear_alert(store, site, at(100))
    later = DUE + timedelta(seconds=601)  # the default reopen window is 600 s
    [second] = store.apply(Batch(events=[event(site, EventType.RAISED, later)]), later, ROUTE)

    assert second.id != first.id
    assert second.reopened == 0
    assert store.list_alerts(is_active=True) == [second]


def test_acknowledge_then_resolve_with_note_is_audited_in_order(store: Store, site: Site) -> None:
    alert = raise_alert(store, site)

    acked = store.act(alert.id, Action.ACKNOWLEDGE, "wang", None, at(300))
    resolved = store.act(alert.id, Action.RESOLVE, "li", "门锁坏了，已报修", at(900))

    assert acked.state == AlertState.ACKNOWLEDGED
    assert (acked.acknowledged_at, acked.acknowledged_by) == (at(300), "wang")
    assert resolved.state == AlertState.RESOLVED
    assert (resolved.resolved_at, resolved.resolved_by) == (at(900), "li")
    assert resolved.note == "门锁坏了，已报修"
    trail = store.transitions(alert.id)
    assert [(t.action, t.actor, t.state) for t in trail] == [
        ("raise", "rules", AlertState.RAISED),
        ("acknowledge", "wang", AlertState.ACKNOWLEDGED),
        ("resolve", "li", AlertState.RESOLVED),
    ]
    assert [t.at for t in trail] == [DUE, at(300), at(900)]
    assert trail[-1].note == "门锁坏了，已报修"


def test_clear_after_resolve_keeps_it_resolved_and_records_the_clear(
    store: Store, site: Site
) -> None:
    alert = raise_alert(store, site)
    store.act(alert.id, Action.RESOLVE, "li", "closed it", at(300))

    [after] = clear_alert(store, site, at(400))

    assert after.state == AlertState.RESOLVED
    assert after.cleared_at == at(400)


def test_refused_action_writes_nothing(store: Store, site: Site) -> None:
    alert = raise_alert(store, site)
    store.act(alert.id, Action.RESOLVE, "li", "done", at(300))

    with pytest.raises(InvalidTransition):
        store.act(alert.id, Action.ACKNOWLEDGE, "wang", None, at(400))

    assert store.get_alert(alert.id).acknowledged_by is None
    assert [t.action for t in store.transitions(alert.id)] == ["raise", "resolve"]


def test_acting_on_a_missing_alert_raises_not_found(store: Store) -> None:
    with pytest.raises(AlertNotFound) as caught:
        store.act(404, Action.ACKNOWLEDGE, "wang", None, T0)

    assert caught.value.alert_id == 404
    with pytest.raises(AlertNotFound):
        store.get_alert(404)


# ---- outbox ------------------------------------------------------------------------


def test_raise_writes_its_outbox_row_in_the_same_step(store: Store, site: Site) -> None:
    alert = raise_alert(store, site)

    [delivery] = store.due_deliveries(DUE)

    assert delivery.alert_id == alert.id
    assert (delivery.event, delivery.channel, delivery.target) == ("alert.raised", "webhook", "ops")
    assert delivery.attempts == 0
    assert delivery.idempotency_key == f"alert-{alert.id}-raised-ops"
    body = json.loads(delivery.body)
    assert body["version"] == 1
    assert body["event"] == "alert.raised"
    assert body["alert"]["id"] == alert.id
    assert body["alert"]["place"] == alert.place
    assert store.next_delivery_at() == DUE


def test_failing_route_rolls_the_whole_step_back(store: Store, site: Site) -> None:
    def broken(alert: Alert, event_name: str) -> list[OutboxEntry]:
        raise RuntimeError("routing failed")

    batch = Batch(
        tracks=[((RULE, DOOR), Track(T0, DUE, is_raised=True))],
        events=[event(site, EventType.RAISED, DUE)],
    )

    with pytest.raises(RuntimeError):
        store.apply(batch, DUE, broken)

    assert store.list_alerts() == []
    assert store.load_tracks() == []
    assert store.outbox_counts() == {"pending": 0, "delivered": 0, "dead": 0}


def test_later_event_of_an_alert_waits_for_the_earlier_delivery(store: Store, site: Site) -> None:
    raise_alert(store, site)
    clear_alert(store, site, at(400))

    [first] = store.due_deliveries(at(500))
    assert first.event == "alert.raised"

    store.mark_delivered(first.id, at(501))

    [second] = store.due_deliveries(at(502))
    assert second.event == "alert.cleared"
    assert store.outbox_counts() == {"pending": 1, "delivered": 1, "dead": 0}


def test_other_alerts_are_not_held_up_by_a_pending_delivery(store: Store, site: Site) -> None:
    raise_alert(store, site)
    raise_alert(store, site, "door-b1-u2")

    assert len(store.due_deliveries(DUE)) == 2


def test_failed_delivery_with_retry_time_waits_and_keeps_later_events_back(
    store: Store, site: Site
) -> None:
    raise_alert(store, site)
    clear_alert(store, site, at(400))
    [first] = store.due_deliveries(at(400))
    retry_at = at(460)

    store.mark_failed(first.id, "HTTP 503", retry_at)

    assert store.due_deliveries(at(459)) == []
    assert store.next_delivery_at() == at(400)  # the cleared row, held back by order
    [again] = store.due_deliveries(retry_at)
    assert again.id == first.id
    assert again.attempts == 1


def test_failed_delivery_without_retry_time_becomes_a_dead_letter(store: Store, site: Site) -> None:
    raise_alert(store, site)
    [first] = store.due_deliveries(DUE)

    store.mark_failed(first.id, "HTTP 410", None)

    assert store.outbox_counts() == {"pending": 0, "delivered": 0, "dead": 1}
    assert store.due_deliveries(at(10_000)) == []
    assert store.next_delivery_at() is None


def test_actions_by_people_are_not_sent_to_webhooks(store: Store, site: Site) -> None:
    alert = raise_alert(store, site)

    store.act(alert.id, Action.ACKNOWLEDGE, "wang", None, at(300), ROUTE)

    assert store.outbox_counts()["pending"] == 1


# ---- restart ---------------------------------------------------------------------------


def test_reopening_the_file_keeps_tracks_states_alerts_and_outbox(
    tmp_path: Path, site: Site
) -> None:
    path = tmp_path / "g.db"
    door_state = DeviceState(DOOR, Kind.DOOR, {"open": True, "battery": 71.5}, T0, T0, at(1), True)
    pending = Track(since_at=at(100), due_at=at(280), is_raised=False)
    raised = Track(since_at=T0, due_at=DUE, is_raised=True)
    first = Store(path)
    first.apply(
        Batch(
            states={DOOR: door_state},
            tracks=[((RULE, DOOR), raised), ((RULE, "door-b1-u2"), pending)],
            events=[event(site, EventType.RAISED, DUE)],
        ),
        DUE,
        ROUTE,
    )
    [alert] = first.list_alerts()
    first.act(alert.id, Action.ACKNOWLEDGE, "wang", None, at(300))
    first.close()

    second = Store(path)
    try:
        assert sorted(second.load_tracks()) == sorted(
            [((RULE, DOOR), raised), ((RULE, "door-b1-u2"), pending)]
        )
        assert second.device_states() == {DOOR: door_state}
        [again] = second.list_alerts()
        assert again == first_state_after_ack(alert)
        assert [t.action for t in second.transitions(alert.id)] == ["raise", "acknowledge"]
        [delivery] = second.due_deliveries(DUE)
        assert delivery.alert_id == alert.id
    finally:
        second.close()


def first_state_after_ack(alert: Alert) -> Alert:
    return replace(
        alert,
        state=AlertState.ACKNOWLEDGED,
        acknowledged_at=at(300),
        acknowledged_by="wang",
        next_reminder_at=None,  # reminders stop once somebody has taken it
    )


def test_ended_track_is_deleted(store: Store) -> None:
    key = (RULE, DOOR)
    store.apply(Batch(tracks=[(key, Track(T0, DUE, is_raised=False))]), T0, ROUTE)

    store.apply(Batch(tracks=[(key, None)]), at(50), ROUTE)

    assert store.load_tracks() == []


def test_a_reopened_alert_queues_its_second_raise_and_clear_under_new_keys(
    store: Store, site: Site
) -> None:
    first = raise_alert(store, site)
    clear_alert(store, site, at(100))
    raise_alert(store, site)  # back within the reopen window: the same alert, reopened
    clear_alert(store, site, DUE + timedelta(seconds=10))

    with closing(sqlite3.connect(store.path)) as db:
        rows = db.execute("SELECT event, idempotency_key FROM outbox ORDER BY id").fetchall()

    assert rows == [
        ("alert.raised", f"alert-{first.id}-raised-ops"),
        ("alert.cleared", f"alert-{first.id}-cleared-ops"),
        ("alert.raised", f"alert-{first.id}-raised-r1-ops"),
        ("alert.cleared", f"alert-{first.id}-cleared-r1-ops"),
    ]


def test_seen_rows_move_only_the_instants_and_never_undo_a_full_row(store: Store) -> None:
    state = DeviceState(DOOR, Kind.DOOR, {"open": False}, T0, T0, at(1), True)
    store.apply(Batch(states={DOOR: state}), at(1), ROUTE)

    repeated = replace(state, last_event_at=at(60), last_seen_at=at(61))
    store.apply(Batch(seen={DOOR: repeated}), at(61), ROUTE)
    saved = store.device_state(DOOR)
    assert saved is not None
    assert (saved.last_event_at, saved.last_seen_at) == (at(60), at(61))
    assert saved.fields == {"open": False}
    assert saved.changed_at == T0

    # a step that has the device's full row too writes that row, not the older instants
    opened = DeviceState(DOOR, Kind.DOOR, {"open": True}, at(90), at(90), at(91), True)
    store.apply(Batch(states={DOOR: opened}, seen={DOOR: repeated}), at(91), ROUTE)
    assert store.device_state(DOOR) == opened


def test_checkpoints_bring_the_wal_back_into_the_database(store: Store, tmp_path: Path) -> None:
    # past SQLite's default auto-checkpoint (1,000 pages): a commit would have checkpointed
    states = {
        f"d{i}": DeviceState(f"d{i}", Kind.DOOR, {"open": i % 2 == 0}, T0, T0, T0, True)
        for i in range(40_000)
    }
    store.apply(Batch(states=states), T0, ROUTE)
    database = tmp_path / "g.db"
    assert database.stat().st_size < 1_000_000  # the rows are still in the WAL only

    assert store.checkpoint() == 0  # nothing left in the WAL that is not in the database
    assert database.stat().st_size > 3_000_000
    with closing(sqlite3.connect(database)) as other:
        assert other.execute("SELECT count(*) FROM device_states").fetchone()[0] == 40_000
