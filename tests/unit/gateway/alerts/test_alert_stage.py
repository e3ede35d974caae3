"""The alert stage: rule events and people's actions become alerts, audit entries, episodes
and outbox rows, decided in memory and written in the step that decided them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gateway.alerts.lifecycle import Action
from gateway.errors import AlertNotFound, InvalidTransition
from gateway.pipeline.alerting import AlertStage
from gateway.places.site import Level
from gateway.runtime.stats import Health
from gateway.store import Store
from gateway.store.records import Alert, AlertState
from gateway.store.writer import Writer
from rules.engine import EventType
from tests.unit.gateway.alertkit import (
    DOOR,
    DUE,
    RULE,
    T0,
    at,
    cleared,
    deliveries,
    item,
    new_store,
    raised,
    stage,
    step,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = new_store(tmp_path)
    yield s
    s.close()


def act(
    store: Store,
    made: AlertStage,
    alert_id: int,
    action: Action,
    actor: str,
    note: str | None,
    when: datetime,
) -> Alert:
    """A person's action through the stage, written before it returns."""

    async def run() -> Alert:
        writer = Writer(store, Health())
        try:
            done, _ = await made.act(writer, alert_id, action, actor, note, when)
            return done
        finally:
            writer.close()

    return asyncio.run(run())


# ---- raise, dedup, clear -------------------------------------------------------------


def test_raised_event_creates_an_alert_with_its_location_and_place(store: Store) -> None:
    alert = raised(store, stage(store))

    assert alert.state == AlertState.RAISED
    assert alert.is_active
    assert (alert.rule_id, alert.device_id, alert.kind) == (RULE, DOOR, "door")
    assert (alert.title_zh, alert.title_en) == ("门未关闭", "Door left open")
    assert [n.id for n in alert.location] == ["d1", "s1", "c1", "g1", "b1", "b1-u1"]
    assert alert.location[-1].level == Level.UNIT
    assert alert.place.startswith("光明社区 / 第1网格 / 1号楼 / 1单元")
    assert (alert.opened_at, alert.due_at, alert.raised_at) == (T0, DUE, DUE)
    assert store.alerts.get(alert.id) == alert


def test_second_raise_for_an_active_alert_is_deduplicated(store: Store) -> None:
    made = stage(store)
    first = raised(store, made)

    again = step(store, made, item(EventType.RAISED, at(600)), now=at(600))

    assert not again.alerts
    assert [a.id for a in store.alerts.find()] == [first.id]
    assert len(deliveries(store)) == 1
    assert [t.action for t in store.alerts.transitions(first.id)] == ["raise"]


def test_same_rule_on_another_device_is_a_separate_alert(store: Store) -> None:
    made = stage(store)
    first = raised(store, made)
    second = raised(store, made, "door-b1-u2")

    assert second.id != first.id
    assert [a.device_id for a in store.alerts.find(node_id="b1-u2")] == ["door-b1-u2"]
    assert {a.device_id for a in store.alerts.find(node_id="b1")} == {DOOR, "door-b1-u2"}


def test_cleared_event_sets_cleared_at_and_state(store: Store) -> None:
    made = stage(store)
    alert = raised(store, made)

    [after] = cleared(store, made, at(400)).alerts.values()

    assert after.id == alert.id
    assert after.state == AlertState.CLEARED
    assert after.cleared_at == at(400)
    assert not after.is_active
    assert [t.action for t in store.alerts.transitions(alert.id)] == ["raise", "clear"]


def test_clear_without_an_active_alert_changes_nothing(store: Store) -> None:
    assert not cleared(store, stage(store), at(400))
    assert store.alerts.find() == []


# ---- reopening: a new episode of the same alert ------------------------------------------


def test_a_condition_back_soon_after_it_cleared_reopens_the_same_alert(store: Store) -> None:
    made = stage(store)
    first = raised(store, made)
    cleared(store, made, at(200))
    back = at(400)
    write = step(
        store, made, item(EventType.RAISED, back, opened_at=at(220), due_at=back), now=back
    )
    [second] = write.alerts.values()

    assert second.id == first.id
    assert (second.reopened, second.episode) == (1, 2)
    assert second.state == AlertState.RAISED
    assert second.cleared_at is None
    assert [t.action for t in store.alerts.transitions(first.id)] == ["raise", "clear", "reopen"]


def test_a_reopened_alert_describes_its_new_episode_and_keeps_every_earlier_one(
    store: Store,
) -> None:
    made = stage(store)
    first = raised(store, made)
    cleared(store, made, at(200))
    # the third opening: its own opened, due and raised instants
    for n, (opened, due, clear) in enumerate([(220, 400, 450), (500, 680, 700)], start=2):
        step(
            store,
            made,
            item(EventType.RAISED, at(due), opened_at=at(opened), due_at=at(due)),
            now=at(due),
        )
        if n == 2:
            cleared(store, made, at(clear))

    alert = store.alerts.get(first.id)
    assert (alert.opened_at, alert.due_at, alert.raised_at) == (at(500), at(680), at(680))
    assert alert.episode == 3
    episodes = store.alerts.episodes(first.id)
    assert [(e.number, e.opened_at, e.due_at, e.raised_at, e.cleared_at) for e in episodes] == [
        (1, T0, DUE, DUE, at(200)),
        (2, at(220), at(400), at(400), at(450)),
        (3, at(500), at(680), at(680), None),
    ]
    raises = [d for d in deliveries(store) if d.event == "alert.raised"]
    body = json.loads(raises[-1].body)["alert"]
    assert (body["episode"], body["opened_at"], body["due_at"], body["raised_at"]) == (
        3,
        at(500).isoformat(),
        at(680).isoformat(),
        at(680).isoformat(),
    )


def test_a_condition_back_after_the_reopen_window_opens_a_new_alert(store: Store) -> None:
    made = stage(store)
    first = raised(store, made)
    cleared(store, made, at(100))
    later = at(100) + timedelta(seconds=601)  # the default reopen window is 600 s
    second = raised(store, made, when=later)

    assert second.id != first.id
    assert second.reopened == 0
    assert store.alerts.find(is_active=True) == [second]


def test_a_reopened_alert_queues_its_second_raise_and_clear_under_new_keys(store: Store) -> None:
    made = stage(store)
    first = raised(store, made)
    cleared(store, made, at(190))
    raised(store, made, when=at(300))  # back within the reopen window: the same alert
    cleared(store, made, at(310))

    keys = [(d.event, d.idempotency_key) for d in deliveries(store)]
    assert keys == [
        ("alert.raised", f"alert-{first.id}-e1-raised-ops"),
        ("alert.cleared", f"alert-{first.id}-e1-cleared-ops"),
        ("alert.raised", f"alert-{first.id}-e2-raised-ops"),
        ("alert.cleared", f"alert-{first.id}-e2-cleared-ops"),
    ]


# ---- people's actions ------------------------------------------------------------------


def test_acknowledge_then_resolve_with_note_is_audited_in_order(store: Store) -> None:
    made = stage(store)
    alert = raised(store, made)

    acked = act(store, made, alert.id, Action.ACKNOWLEDGE, "wang", None, at(300))
    resolved = act(store, made, alert.id, Action.RESOLVE, "li", "门锁坏了，已报修", at(900))

    assert acked.state == AlertState.ACKNOWLEDGED
    assert (acked.acknowledged_at, acked.acknowledged_by) == (at(300), "wang")
    assert resolved.state == AlertState.RESOLVED
    assert (resolved.resolved_at, resolved.resolved_by) == (at(900), "li")
    assert resolved.note == "门锁坏了，已报修"
    trail = store.alerts.transitions(alert.id)
    assert [(t.action, t.actor, t.state) for t in trail] == [
        ("raise", "rules", AlertState.RAISED),
        ("acknowledge", "wang", AlertState.ACKNOWLEDGED),
        ("resolve", "li", AlertState.RESOLVED),
    ]
    assert [t.at for t in trail] == [DUE, at(300), at(900)]
    assert trail[-1].note == "门锁坏了，已报修"
    assert store.alerts.get(alert.id) == resolved


def test_an_acknowledged_alert_stays_acknowledged_when_its_door_closes(store: Store) -> None:
    made = stage(store)
    alert = raised(store, made)
    act(store, made, alert.id, Action.ACKNOWLEDGE, "wang", None, at(300))

    [after] = cleared(store, made, at(400)).alerts.values()

    assert after.state == AlertState.ACKNOWLEDGED  # the person on it still resolves it
    assert after.cleared_at == at(400)
    assert not after.is_active


def test_clear_after_resolve_keeps_it_resolved_and_records_the_clear(store: Store) -> None:
    made = stage(store)
    alert = raised(store, made)
    act(store, made, alert.id, Action.RESOLVE, "li", "closed it", at(300))

    [after] = cleared(store, made, at(400)).alerts.values()

    assert after.state == AlertState.RESOLVED
    assert after.cleared_at == at(400)


def test_refused_action_writes_nothing(store: Store) -> None:
    made = stage(store)
    alert = raised(store, made)
    act(store, made, alert.id, Action.RESOLVE, "li", "done", at(300))

    with pytest.raises(InvalidTransition):
        act(store, made, alert.id, Action.ACKNOWLEDGE, "wang", None, at(400))

    assert store.alerts.get(alert.id).acknowledged_by is None
    assert [t.action for t in store.alerts.transitions(alert.id)] == ["raise", "resolve"]


def test_acting_on_a_missing_alert_raises_not_found(store: Store) -> None:
    with pytest.raises(AlertNotFound) as caught:
        act(store, stage(store), 404, Action.ACKNOWLEDGE, "wang", None, T0)

    assert caught.value.alert_id == 404


def test_an_alert_the_book_let_go_is_read_from_the_store_to_act_on(store: Store) -> None:
    made = stage(store)
    alert = raised(store, made)
    cleared(store, made, at(400))
    # a fresh stage, started long after: the cleared alert is no longer in play
    later = stage(store)
    assert later.book.get(alert.id) is not None  # loaded: cleared within the window of T0
    later.book.due(at(400) + timedelta(seconds=601))  # the window passes
    assert later.book.get(alert.id) is None

    done = act(store, later, alert.id, Action.RESOLVE, "li", "checked", at(2000))

    assert done.state == AlertState.RESOLVED


# ---- what is sent --------------------------------------------------------------------------


def test_raise_writes_its_outbox_row_in_the_same_step(store: Store) -> None:
    alert = raised(store, stage(store))

    [delivery] = deliveries(store)

    assert delivery.alert_id == alert.id
    assert (delivery.event, delivery.channel, delivery.target) == ("alert.raised", "webhook", "ops")
    assert delivery.attempts == 0
    assert delivery.next_attempt_at == DUE
    body = json.loads(delivery.body)
    assert body["version"] == 1
    assert body["event"] == "alert.raised"
    assert body["alert"]["id"] == alert.id
    assert body["alert"]["place"] == alert.place


def test_actions_by_people_are_not_sent_to_webhooks(store: Store) -> None:
    made = stage(store)
    alert = raised(store, made)

    act(store, made, alert.id, Action.ACKNOWLEDGE, "wang", None, at(300))

    assert [d.event for d in deliveries(store)] == ["alert.raised"]


def test_an_inhibited_alert_is_kept_and_not_sent(store: Store) -> None:
    made = stage(store)
    loud = item(EventType.RAISED, DUE)
    quiet = replace(loud, event=replace(loud.event, is_inhibited=True))
    step(store, made, quiet, now=DUE)

    [alert] = store.alerts.find()
    assert alert.is_inhibited
    assert deliveries(store) == []
