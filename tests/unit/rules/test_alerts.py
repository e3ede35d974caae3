"""Scope, message templates, reminders, windows and quiet hours, reloading rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rulekit import SHANGHAI, T0, brief, place, reading, rule_set, seconds

from rules.engine import OVERDUE, Engine
from rules.tracks import EventType
from sensors.kinds import Kind

HELD = {"when": "held", "kind": "door", "field": "open", "hold_s": 60}


def door(device: str, at: datetime, is_open: bool) -> object:
    return reading(device, Kind.DOOR, at, open=is_open)


# ---- scope ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "covered"),
    [
        (None, {"a", "b", "c"}),
        ({"nodes": ["b2"]}, {"b"}),
        ({"nodes": ["c1"]}, {"a", "b", "c"}),
        ({"devices": ["c"]}, {"c"}),
        ({"tags": ["elderly_alone"]}, {"a"}),
        ({"nodes": ["b2"], "devices": ["c"]}, {"b", "c"}),
    ],
)
def test_scope_picks_devices_by_node_device_or_tag(
    scope: dict[str, list[str]] | None, covered: set[str]
) -> None:
    rule = {"id": "r", **HELD} | ({"scope": scope} if scope else {})
    where = {
        "a": place("a", tags=("elderly_alone",)),
        "b": place("b", building="b2"),
        "c": place("c", building="b3"),
    }
    e = Engine(rule_set(rule), SHANGHAI, where)
    for device in where:
        e.observe(door(device, T0, True), T0)  # type: ignore[arg-type]

    assert {ev.subject_id for ev in e.tick(T0 + seconds(60))} == covered


def test_kind_scopes_a_rule_and_any_covers_every_placed_kind() -> None:
    e = Engine(
        rule_set({"id": "tamper", "when": "immediate", "kind": "any", "field": "tamper"}),
        SHANGHAI,
    )
    [raised] = e.observe(reading("g1", Kind.GAS, T0, tamper=True), T0)
    assert (raised.kind, raised.subject_id) == (Kind.GAS, "g1")


def test_a_device_moved_out_of_scope_has_its_alert_cleared() -> None:
    rule = {"id": "r", **HELD, "scope": {"nodes": ["b1"]}}
    e = Engine(rule_set(rule), SHANGHAI, {"a": place("a")})
    e.observe(door("a", T0, True), T0)  # type: ignore[arg-type]
    e.tick(T0 + seconds(60))

    e.set_where({"a": place("a", building="b9")})

    assert e.next_due_at() == OVERDUE
    assert brief(e.tick(T0 + seconds(70))) == [("cleared", "r", "a")]


# ---- templates -------------------------------------------------------------------------


def test_message_names_the_place_and_the_duration_in_both_languages() -> None:
    rule = {
        "id": "r",
        **HELD,
        "message": {
            "zh": "{community}{building}{unit}单元门已打开{held_min}分钟",
            "en": "Unit {unit} door, {building}, {community}: open {duration}",
        },
    }
    e = Engine(rule_set(rule), SHANGHAI, {"a": place("a", unit="u2")})
    e.observe(door("a", T0, True), T0)  # type: ignore[arg-type]

    [raised] = e.tick(T0 + seconds(185))

    assert raised.message_zh == "阳光社区1号楼2单元门已打开3分钟"
    assert raised.message_en == "Unit 2 door, 1号楼, 阳光社区: open 3 min"


def test_default_message_is_place_and_title_and_unknown_places_are_blank() -> None:
    e = Engine(rule_set({"id": "r", **HELD}), SHANGHAI)  # no site: place unknown
    e.observe(door("a", T0, True), T0)  # type: ignore[arg-type]

    [raised] = e.tick(T0 + seconds(60))

    assert raised.message_zh == "标题"
    assert raised.message_en == "Title: "


# ---- reminders -------------------------------------------------------------------------


def test_reminders_follow_due_times_while_the_alert_is_active() -> None:
    e = Engine(rule_set({"id": "r", **HELD, "reminder_s": 600}), SHANGHAI)
    e.observe(door("a", T0, True), T0)  # type: ignore[arg-type]
    e.tick(T0 + seconds(60))

    assert e.next_due_at() == T0 + seconds(660)
    [first] = e.tick(T0 + seconds(665))  # late by 5 s: the next stays on the grid
    assert (first.type, first.due_at, first.at) == (
        EventType.REMINDED,
        T0 + seconds(660),
        T0 + seconds(665),
    )
    assert e.next_due_at() == T0 + seconds(1260)
    [_] = e.tick(T0 + seconds(3000))  # asleep past two: one reminder, the next after now
    assert e.next_due_at() == T0 + seconds(3060)

    e.observe(door("a", T0 + seconds(3010), False), T0 + seconds(3010))  # type: ignore[arg-type]
    assert e.next_due_at() is None


# ---- windows and quiet hours ---------------------------------------------------------


def local(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 2, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


NIGHT_OPEN = {
    "id": "night_open",
    "when": "immediate",
    "kind": "door",
    "field": "open",
    "window": {"start": "22:00", "end": "06:00"},
}


def test_door_open_and_night_raises_when_night_begins_and_clears_when_it_ends() -> None:
    e = Engine(rule_set(NIGHT_OPEN), SHANGHAI)
    assert e.observe(door("a", local(21, 30), True), local(21, 30)) == []  # type: ignore[arg-type]
    assert e.next_due_at() == local(22)

    [raised] = e.tick(local(22))
    assert raised.type == EventType.RAISED
    closes = datetime(2026, 3, 3, 6, tzinfo=SHANGHAI).astimezone(UTC)
    assert e.next_due_at() == closes
    [cleared] = e.tick(closes)
    assert (cleared.type, cleared.at) == (EventType.CLEARED, closes)
    # still open: the conjunction holds again next night
    assert e.next_due_at() == datetime(2026, 3, 3, 22, tzinfo=SHANGHAI).astimezone(UTC)


def test_held_rule_counts_its_hold_only_inside_the_window() -> None:
    rule = {**HELD, "id": "r", "window": {"start": "22:00", "end": "06:00"}}
    e = Engine(rule_set(rule), SHANGHAI)
    e.observe(
        door(
            "a",
            local(
                21,
                59,
            ),
            True,
        ),
        local(21, 59),
    )  # type: ignore[arg-type]

    assert e.next_due_at() == local(22, 1)


def test_quiet_hours_postpone_a_raise_to_their_end() -> None:
    rule = {
        "id": "idle",
        "when": "inactivity",
        "kind": "door",
        "field": "open",
        "idle_s": 3600,
        "quiet": {"start": "21:00", "end": "08:00"},
    }
    e = Engine(rule_set(rule), SHANGHAI)
    e.observe(door("a", local(20, 30), True), local(20, 30))  # type: ignore[arg-type]

    assert e.next_due_at() == datetime(2026, 3, 3, 8, tzinfo=SHANGHAI).astimezone(UTC)


# ---- reloading rules -----------------------------------------------------------------


def test_replacing_rules_keeps_tracks_of_unchanged_rules_and_clears_removed_ones() -> None:
    keep = {"id": "keep", **HELD}
    gone = {"id": "gone", **HELD, "hold_s": 10}
    e = Engine(rule_set(keep, gone), SHANGHAI)
    e.observe(door("a", T0, True), T0)  # type: ignore[arg-type]
    assert brief(e.tick(T0 + seconds(10))) == [("raised", "gone", "a")]

    e.replace_rules(rule_set({**keep, "severity": "critical"}))

    assert e.next_due_at() == OVERDUE
    assert brief(e.tick(T0 + seconds(20))) == [("cleared", "gone", "a")]
    [raised] = e.tick(T0 + seconds(60))  # the kept rule's timer kept its start
    assert (raised.rule_id, raised.opened_at, raised.severity) == ("keep", T0, "critical")


def test_a_changed_condition_starts_over() -> None:
    e = Engine(rule_set({"id": "r", **HELD}), SHANGHAI)
    e.observe(door("a", T0, True), T0)  # type: ignore[arg-type]

    e.replace_rules(rule_set({"id": "r", **HELD, "hold_s": 30}))

    assert e.active() == {}
    assert e.tick(T0 + seconds(100)) == []
