"""Threshold with hysteresis, count in a window, absence and inactivity, on a fake clock."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from rulekit import SHANGHAI, T0, brief, reading, rule_set, scheduler, seconds

from rules.engine import Engine
from rules.tracks import AlertEvent, EventType
from sensors.kinds import Kind

HEAT = rule_set(
    {
        "id": "hot",
        "when": "threshold",
        "kind": "climate",
        "field": "temperature",
        "above": 57,
        "clear_below": 50,
        "hold_s": 30,
    }
)
FLAP = rule_set(
    {
        "id": "flap",
        "when": "count",
        "kind": "door",
        "field": "open",
        "more_than": 3,
        "window_s": 60,
    }
)


def temp(at: datetime, value: float) -> object:
    return reading("t1", Kind.CLIMATE, at, temperature=value)


def test_heat_above_the_limit_for_the_hold_raises_and_clears_only_below_the_clear_limit() -> None:
    e = Engine(HEAT, SHANGHAI)
    e.observe(temp(T0, 58), T0)  # type: ignore[arg-type]
    assert e.next_due_at() == T0 + seconds(30)
    [raised] = e.tick(T0 + seconds(30))
    assert raised.type == EventType.RAISED

    assert e.observe(temp(T0 + seconds(40), 52), T0 + seconds(40)) == []  # type: ignore[arg-type]
    [cleared] = e.observe(temp(T0 + seconds(50), 49.5), T0 + seconds(50))  # type: ignore[arg-type]
    assert cleared.type == EventType.CLEARED
    assert cleared.at == T0 + seconds(50)


def test_heat_that_dips_under_the_limit_before_the_hold_restarts_the_hold() -> None:
    e = Engine(HEAT, SHANGHAI)
    e.observe(temp(T0, 58), T0)  # type: ignore[arg-type]
    e.observe(temp(T0 + seconds(20), 56), T0 + seconds(20))  # type: ignore[arg-type]
    e.observe(temp(T0 + seconds(25), 60), T0 + seconds(25))  # type: ignore[arg-type]

    assert e.next_due_at() == T0 + seconds(55)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 40), st.floats(40, 70, allow_nan=False)), min_size=1, max_size=40
    )
)
def test_heat_alert_matches_a_hysteresis_model(steps: list[tuple[int, float]]) -> None:
    e = Engine(HEAT, SHANGHAI)
    events: list[AlertEvent] = []
    at = T0
    model_raised = False
    over_since: datetime | None = None
    expected: list[str] = []
    for gap, value in steps:
        due = None if over_since is None or model_raised else over_since + seconds(30)
        at += seconds(gap)
        if due is not None and due <= at:
            model_raised = True
            expected.append("raised")
        events += scheduler(e, at - seconds(gap), at)
        events += e.observe(temp(at, value), at)  # type: ignore[arg-type]
        if model_raised and value < 50:
            model_raised, over_since = False, None
            expected.append("cleared")
        elif not model_raised and value <= 57:
            over_since = None
        elif not model_raised and over_since is None:
            over_since = at
    assert [ev.type.value for ev in events] == expected


def door(at: datetime, is_open: bool, device: str = "d1") -> object:
    return reading(device, Kind.DOOR, at, open=is_open)


def test_more_than_n_openings_in_the_window_raise_once_and_clear_when_they_age_out() -> None:
    e = Engine(FLAP, SHANGHAI)
    events: list[AlertEvent] = []
    for i in range(4):
        at = T0 + seconds(10 * i)
        events += e.observe(door(at, True), at)  # type: ignore[arg-type]
        events += e.observe(door(at + seconds(2), False), at + seconds(2))  # type: ignore[arg-type]
    [raised] = events
    assert raised.type == EventType.RAISED
    assert raised.opened_at == T0
    assert "4" in raised.message_zh or raised.message_zh  # count is available to templates

    # the count falls back to 3 when the first opening leaves the 60 s window
    assert e.next_due_at() == T0 + seconds(60)
    [cleared] = e.tick(T0 + seconds(60))
    assert cleared.type == EventType.CLEARED
    assert cleared.at == T0 + seconds(60)


def test_repeated_open_reports_are_not_counted_as_openings() -> None:
    e = Engine(FLAP, SHANGHAI)
    events = []
    for i in range(10):
        at = T0 + seconds(i)
        events += e.observe(door(at, True), at)  # type: ignore[arg-type]
    assert events == []


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 30), st.booleans()), max_size=60))
def test_flap_alert_follows_a_sliding_window_model(steps: list[tuple[int, bool]]) -> None:
    e = Engine(FLAP, SHANGHAI)
    events: list[AlertEvent] = []
    at = T0
    for gap, is_open in steps:
        before = at
        at += seconds(gap)
        events += scheduler(e, before, at)
        events += e.observe(door(at, is_open), at)  # type: ignore[arg-type]
    events += scheduler(e, at, at + seconds(120))

    # model: openings are transitions to open; raised while >3 in the last 60 s
    openings, last = [], None
    at = T0
    for gap, is_open in steps:
        at += seconds(gap)
        if is_open and last is not True:
            openings.append(at)
        last = is_open
    raises = 0
    is_on = False
    for i, t in enumerate(openings):
        in_window = [o for o in openings[: i + 1] if o > t - seconds(60)]
        prev_active = i > 0 and is_on and openings[i - 4 if i >= 4 else 0] > t - seconds(60)
        if is_on and not prev_active:
            is_on = False
        if len(in_window) > 3 and not is_on:
            raises += 1
            is_on = True
    raised = [ev for ev in events if ev.type == EventType.RAISED]
    cleared = [ev for ev in events if ev.type == EventType.CLEARED]
    assert len(raised) == raises
    assert len(cleared) == len(raised)  # every flap alert ages out by the end


OFFLINE = rule_set({"id": "offline", "when": "absence", "kind": "any", "silent_s": 600})
IDLE = rule_set(
    {"id": "idle", "when": "inactivity", "kind": "door", "field": "open", "idle_s": 86400}
)


def test_silence_raises_offline_and_any_report_clears_it() -> None:
    e = Engine(OFFLINE, SHANGHAI)
    e.observe(reading("d1", Kind.DOOR, T0, battery=90.0), T0)
    [raised] = e.tick(T0 + seconds(600))
    assert (raised.type, raised.opened_at, raised.kind) == (EventType.RAISED, T0, Kind.DOOR)

    [cleared] = e.observe(reading("d1", Kind.DOOR, T0 + seconds(900), battery=90.0), T0)
    assert cleared.type == EventType.CLEARED
    assert e.next_due_at() == T0 + seconds(1500)


def test_availability_offline_raises_at_once_when_the_rule_says_so() -> None:
    e = Engine(OFFLINE, SHANGHAI)
    e.observe(reading("d1", Kind.DOOR, T0, open=False), T0)

    [raised] = e.observe(
        reading("d1", Kind.AVAILABILITY, T0 + seconds(5), online=False), T0 + seconds(5)
    )
    assert raised.type == EventType.RAISED
    assert e.observe(reading("d1", Kind.AVAILABILITY, T0 + seconds(9), online=False), T0) == []
    [cleared] = e.observe(
        reading("d1", Kind.AVAILABILITY, T0 + seconds(60), online=True), T0 + seconds(60)
    )
    assert cleared.type == EventType.CLEARED


def test_inactivity_counts_openings_not_heartbeats() -> None:
    e = Engine(IDLE, SHANGHAI)
    e.observe(door(T0, True), T0)  # type: ignore[arg-type]
    e.observe(door(T0 + seconds(5), False), T0 + seconds(5))  # type: ignore[arg-type]
    for hour in range(1, 24):  # closed-state heartbeats and battery reports
        at = T0 + seconds(3600 * hour)
        e.observe(door(at, False), at)  # type: ignore[arg-type]
        e.observe(reading("d1", Kind.DOOR, at, battery=80.0), at)

    [raised] = e.tick(T0 + seconds(86400))
    assert brief([raised]) == [("raised", "idle", "d1")]
    assert raised.opened_at == T0
    [cleared] = e.observe(door(T0 + seconds(90000), True), T0 + seconds(90000))  # type: ignore[arg-type]
    assert cleared.type == EventType.CLEARED
    assert e.next_due_at() == T0 + seconds(90000 + 86400)
