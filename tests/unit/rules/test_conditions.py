"""Due times of held conditions under a day hold and a night window, on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.conditions import held_due_at, hold_at, is_in_window, walk_held_due_at
from rules.model import HeldRule

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def held_rule(hold_s: float, night: dict[str, Any] | None = None) -> HeldRule:
    return HeldRule.model_validate(
        {
            "id": "door_left_open",
            "when": "held",
            "kind": "door",
            "field": "open",
            "hold_s": hold_s,
            "night": night,
            "title": {"zh": "门未关闭", "en": "Door left open"},
        }
    )


DEFAULT = held_rule(180, {"start": "22:00", "end": "06:00", "hold_s": 30})


def local(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def due_local(rule: HeldRule, since: datetime, tz: ZoneInfo = SHANGHAI) -> datetime:
    due = held_due_at(rule, since.astimezone(UTC), tz)
    return due.astimezone(tz)


def test_day_open_is_due_after_the_day_hold() -> None:
    assert due_local(DEFAULT, local(2026, 3, 1, 12, 0, 0)) == local(2026, 3, 1, 12, 3, 0)


def test_night_open_is_due_after_the_night_hold() -> None:
    assert due_local(DEFAULT, local(2026, 3, 1, 23, 0, 0)) == local(2026, 3, 1, 23, 0, 30)
    assert due_local(DEFAULT, local(2026, 3, 2, 2, 15, 0)) == local(2026, 3, 2, 2, 15, 30)


def test_open_just_before_night_is_due_when_night_begins() -> None:
    # by day it would be due at 22:02; at 22:00 it has been open 60 s > the night's 30 s
    assert due_local(DEFAULT, local(2026, 3, 1, 21, 59, 0)) == local(2026, 3, 1, 22, 0, 0)


def test_open_late_in_the_night_waits_for_the_day_hold_once_day_begins() -> None:
    # by night it would be due at 06:00:20; from 06:00 the day hold (180 s) applies
    assert due_local(DEFAULT, local(2026, 3, 1, 5, 59, 50)) == local(2026, 3, 1, 6, 2, 50)


def test_open_at_night_that_ends_in_time_is_due_at_night() -> None:
    assert due_local(DEFAULT, local(2026, 3, 1, 5, 59, 0)) == local(2026, 3, 1, 5, 59, 30)


def test_rule_without_night_uses_the_day_hold_around_the_clock() -> None:
    rule = held_rule(90)
    since = local(2026, 3, 1, 23, 30, 0)

    assert due_local(rule, since) == since + timedelta(seconds=90)
    assert hold_at(rule, since, SHANGHAI) == timedelta(seconds=90)


def test_hold_at_switches_at_the_window_edges() -> None:
    def hold(day: int, hour: int, minute: int, second: int) -> timedelta:
        return hold_at(DEFAULT, local(2026, 3, day, hour, minute, second), SHANGHAI)

    assert hold(1, 21, 59, 59) == timedelta(seconds=180)
    assert hold(1, 22, 0, 0) == timedelta(seconds=30)
    assert hold(2, 5, 59, 59) == timedelta(seconds=30)
    assert hold(2, 6, 0, 0) == timedelta(seconds=180)


@pytest.mark.parametrize(
    ("clock", "expected"),
    [
        (time(21, 59, 59), False),
        (time(22, 0), True),
        (time(23, 59, 59), True),
        (time(0, 0), True),
        (time(5, 59, 59), True),
        (time(6, 0), False),
        (time(12, 0), False),
    ],
)
def test_window_that_wraps_midnight(clock: time, expected: bool) -> None:
    assert is_in_window(clock, time(22), time(6)) is expected


@pytest.mark.parametrize(
    ("clock", "expected"),
    [(time(12, 59), False), (time(13), True), (time(13, 59, 59), True), (time(14), False)],
)
def test_window_within_one_day(clock: time, expected: bool) -> None:
    assert is_in_window(clock, time(13), time(14)) is expected


# ---- summer time: the night window's edges as the wall clock jumps --------------------
# Europe/Berlin, 2026: clocks go 02:00 -> 03:00 on 29 March (01:00 UTC) and
# 03:00 -> 02:00 on 25 October (01:00 UTC).
SMALL_HOURS = held_rule(3600, {"start": "02:30", "end": "06:00", "hold_s": 60})


def test_night_starting_inside_the_spring_gap_starts_when_the_clock_jumps() -> None:
    # open at 01:05 CET; at 01:00 UTC the clock reads 03:00, inside [02:30, 06:00), and
    # the door has been open 55 min > 60 s: due then, not at the day hold (02:05 UTC)
    since = datetime(2026, 3, 29, 0, 5, tzinfo=UTC)
    jump = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert hold_at(SMALL_HOURS, jump, BERLIN) == timedelta(seconds=60)

    assert held_due_at(SMALL_HOURS, since, BERLIN) == jump


def test_night_starting_in_the_repeated_autumn_hour_starts_at_its_second_passing() -> None:
    # open at 02:00 CET (after the clock went back); night begins when the clock reads
    # 02:30 again, at 01:30 UTC
    since = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
    night_begins = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert hold_at(SMALL_HOURS, night_begins, BERLIN) == timedelta(seconds=60)

    assert held_due_at(SMALL_HOURS, since, BERLIN) == night_begins


# ---- property: the due time is the earliest instant the hold is met -------------------

HOLDS = st.integers(min_value=1, max_value=1800)
CLOCK = st.times().map(lambda t: t.replace(microsecond=0))


@st.composite
def rules_with_night(draw: st.DrawFn) -> HeldRule:
    start = draw(CLOCK)
    end = draw(CLOCK.filter(lambda t: t != start))
    night = {"start": start.isoformat(), "end": end.isoformat(), "hold_s": draw(HOLDS)}
    return held_rule(draw(HOLDS), night)


SINCE = st.datetimes(
    min_value=datetime(2020, 1, 1, tzinfo=UTC).replace(tzinfo=None),
    max_value=datetime(2035, 1, 1, tzinfo=UTC).replace(tzinfo=None),
).map(lambda at: at.replace(tzinfo=UTC))


@settings(max_examples=200, deadline=None)
@given(rule=rules_with_night(), since=SINCE)
def test_due_time_is_the_earliest_instant_the_hold_is_met(rule: HeldRule, since: datetime) -> None:
    due = held_due_at(rule, since, SHANGHAI)

    assert due >= since
    assert due - since >= hold_at(rule, due, SHANGHAI)
    assert rule.night is not None
    shortest = timedelta(seconds=min(rule.hold_s, rule.night.hold_s))
    # nothing earlier meets its hold: check every second from the shortest hold on
    x = since + shortest
    while x < due:
        assert x - since < hold_at(rule, x, SHANGHAI), f"{x} already meets its hold"
        x += timedelta(seconds=1)


@settings(max_examples=150, deadline=None)
@given(
    rule=rules_with_night(),
    start=SINCE,
    steps=st.lists(st.integers(min_value=-7200, max_value=5 * 3600), min_size=2, max_size=40),
    zone=st.sampled_from([SHANGHAI, BERLIN]),
)
def test_the_kept_stretch_answers_as_the_walk_over_the_edges_does(
    rule: HeldRule, start: datetime, steps: list[int], zone: ZoneInfo
) -> None:
    """Openings one after another (now and then an earlier one, a late reading), across
    night edges and daylight-saving changes: the shortcut through the stretch the last
    opening fell in gives each the due time the full walk gives."""
    since = start
    for step in steps:
        since += timedelta(seconds=step)
        assert held_due_at(rule, since, zone) == walk_held_due_at(rule, since, zone), since


def test_openings_in_one_stretch_are_due_a_hold_later_and_one_past_its_end_is_not() -> None:
    first = local(2026, 3, 1, 21, 50, 0).astimezone(UTC)
    assert held_due_at(DEFAULT, first, SHANGHAI) == first + timedelta(seconds=180)
    # in the same stretch (before 22:00): the day hold, unless night begins first
    then = local(2026, 3, 1, 21, 56, 0).astimezone(UTC)
    assert held_due_at(DEFAULT, then, SHANGHAI) == then + timedelta(seconds=180)
    late = local(2026, 3, 1, 21, 59, 0).astimezone(UTC)
    assert held_due_at(DEFAULT, late, SHANGHAI) == local(2026, 3, 1, 22, 0, 0)
