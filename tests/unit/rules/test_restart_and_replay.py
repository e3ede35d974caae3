"""Restart (take_changes → new Engine → restore) and replay-equals-live, over the shipped
rules and a mixed stream of doors, climate and silence."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from rulekit import SHANGHAI, T0, Devices, place, reading, seconds

from rules.engine import Engine
from rules.model import DEFAULT_RULES, load_rules
from rules.replay import replay, run_until
from rules.tracks import AlertEvent, EventType, Track, TrackKey
from sensors.kinds import Kind
from sensors.reading import Reading

SHIPPED = load_rules(DEFAULT_RULES)
WHERE = {
    "door-a": place("door-a", tags=("elderly_alone",)),
    "door-b": place("door-b", unit="u2"),
    "heat-a": place("heat-a", Kind.CLIMATE),
}


def instant_of(event: AlertEvent) -> datetime:
    """The event-time instant of an event: when it was due, or (clears) when it ended."""
    if event.type == EventType.CLEARED:
        return event.at
    return event.due_at or event.opened_at


def key(event: AlertEvent) -> tuple[str, str, str, datetime, datetime]:
    return (event.type.value, event.rule_id, event.subject_id, event.opened_at, instant_of(event))


def saved(e: Engine, store: dict[TrackKey, Track]) -> None:
    """What the gateway's store holds of rule tracks after a step (moved-on offline watches
    are not written: a restart moves them on from the devices' last reports)."""
    changes = e.take_changes()
    e.take_refreshed()
    for k, track in changes:
        if track is None:
            store.pop(k, None)
        else:
            store[k] = replace(track, data=dict(track.data))


READING = st.one_of(
    st.tuples(st.just("door-a"), st.booleans()),
    st.tuples(st.just("door-b"), st.booleans()),
    st.tuples(st.just("heat-a"), st.floats(45, 65, allow_nan=False)),
)
STREAM = st.lists(st.tuples(st.integers(1, 4000), READING), max_size=30)


def build(steps: list[tuple[int, tuple[str, object]]]) -> list[Reading]:
    out = []
    at = T0
    for gap, (device, value) in steps:
        at += seconds(gap)
        if device == "heat-a":
            out.append(reading(device, Kind.CLIMATE, at, temperature=value))
        else:
            out.append(reading(device, Kind.DOOR, at, open=value))
    return out


@settings(max_examples=60, deadline=None)
@given(steps=STREAM, ticks=st.lists(st.integers(0, 3999), max_size=30))
def test_replay_equals_live_with_ticks_at_arbitrary_times(
    steps: list[tuple[int, tuple[str, object]]], ticks: list[int]
) -> None:
    readings = build(steps)
    end = (readings[-1].event_at if readings else T0) + seconds(2 * 86400)
    replayed = replay(SHIPPED, readings, WHERE, SHANGHAI, start=T0, until=end)

    live = Engine(SHIPPED, SHANGHAI, WHERE)
    events: list[AlertEvent] = []
    now = T0
    events += live.tick(now)
    for i, r in enumerate(readings):
        # the timer task wakes at due times; stray ticks land anywhere before the reading
        extra = sorted(now + seconds(t) for t in ticks[i : i + 2])
        for at in extra:
            if at < r.event_at:
                events += run_until(live, now, at)
                now = at
                events += live.tick(now)
        events += run_until(live, now, r.event_at)
        now = max(now, r.event_at)
        events += live.observe(r, now)
    events += run_until(live, now, end)

    assert [key(e) for e in events] == [key(e) for e in replayed]


@settings(max_examples=60, deadline=None)
@given(steps=STREAM, cut=st.integers(0, 30))
def test_restart_gives_the_same_future_events(
    steps: list[tuple[int, tuple[str, object]]], cut: int
) -> None:
    readings = build(steps)
    end = (readings[-1].event_at if readings else T0) + seconds(2 * 86400)
    straight = replay(SHIPPED, readings, WHERE, SHANGHAI, start=T0, until=end)

    store: dict[TrackKey, Track] = {}
    devices = Devices()
    first = Engine(SHIPPED, SHANGHAI, WHERE)
    events: list[AlertEvent] = []
    now = T0
    events += first.tick(now)
    for r in readings[:cut]:
        events += run_until(first, now, r.event_at)
        now = max(now, r.event_at)
        events += first.observe(r, now)
        devices.observe(r)
        saved(first, store)
    saved(first, store)

    second = Engine(SHIPPED, SHANGHAI, WHERE)  # the gateway restarts
    devices.restore(second, list(store.items()))
    for r in readings[cut:]:
        events += run_until(second, now, r.event_at)
        now = max(now, r.event_at)
        events += second.observe(r, now)
    events += run_until(second, now, end)

    assert [key(e) for e in events] == [key(e) for e in straight]


def test_door_opened_before_a_restart_alerts_at_open_plus_hold_and_only_once() -> None:
    store: dict[TrackKey, Track] = {}
    devices = Devices()
    first = Engine(SHIPPED, SHANGHAI, WHERE)
    first.tick(T0)
    opened = reading("door-b", Kind.DOOR, T0, open=True)
    first.observe(opened, T0)
    devices.observe(opened)
    saved(first, store)

    second = Engine(SHIPPED, SHANGHAI, WHERE)
    devices.restore(second, list(store.items()))
    raised = [e for e in run_until(second, T0, T0 + seconds(200)) if e.rule_id == "door_left_open"]
    assert [(e.type, e.due_at) for e in raised] == [(EventType.RAISED, T0 + seconds(180))]
    saved(second, store)

    third = Engine(SHIPPED, SHANGHAI, WHERE)
    devices.restore(third, list(store.items()))
    assert [
        e for e in run_until(third, T0, T0 + seconds(400)) if e.rule_id == "door_left_open"
    ] == []
