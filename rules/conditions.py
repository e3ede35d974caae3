"""Pure time arithmetic for conditions: when a held condition becomes due.

A held condition (door open) is due at the earliest instant `x >= since_at` such that
`x - since_at >= hold(x)`, where `hold(x)` is the night hold when `x`'s wall-clock time in
the site's timezone is inside the night window, else the day hold. So a door opened at
21:59 by day (hold 180 s) is due at 22:00:00, when the night hold (30 s) is already
exceeded; a door opened at 05:59:50 at night would be due at 06:00:20, but the day hold
takes over at 06:00 and it is due at 06:02:50.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rules.model import HeldRule, NightHold


def is_in_window(local: time, start: time, end: time) -> bool:
    """Whether a wall-clock time lies in [start, end); windows may wrap midnight."""
    if start < end:
        return start <= local < end
    return local >= start or local < end


def _offset_changes(day_start: datetime, day_end: datetime, tz: ZoneInfo) -> list[datetime]:
    """The instants in [day_start, day_end) where the zone's UTC offset changes (DST)."""
    if day_start.astimezone(tz).utcoffset() == day_end.astimezone(tz).utcoffset():
        return []
    low, high = day_start, day_end  # offset differs at the ends: bisect to the second
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset():
            low = middle
        else:
            high = middle
    return [high.replace(microsecond=0)]


def wall_edges_after(at: datetime, clock: tuple[time, ...], tz: ZoneInfo) -> Iterator[datetime]:
    """Instants after `at` where the wall clock passes one of `clock`'s times, in order.

    Each wall-clock edge is taken at both folds (a repeated autumn hour passes twice), and
    every UTC offset change is added too (an edge inside the spring gap is passed at the
    jump). Extra candidates are harmless: callers re-read the clock at each one.
    """
    local_day = at.astimezone(tz).date() - timedelta(days=1)
    while True:
        for edge in _day_edges(local_day, clock, tz):
            if edge > at:
                yield edge
        local_day += timedelta(days=1)


@functools.lru_cache(maxsize=4096)
def _day_edges(local_day: date, clock: tuple[time, ...], tz: ZoneInfo) -> tuple[datetime, ...]:
    """One local day's edges, sorted: computed once per day and clock (every door opening
    under a night window asks for them; a rule file has a handful of windows)."""
    next_day = local_day + timedelta(days=1)
    day_start = datetime.combine(local_day, time(0), tzinfo=tz).astimezone(UTC)
    day_end = datetime.combine(next_day, time(0), tzinfo=tz).astimezone(UTC)
    edges = {
        datetime.combine(local_day, t, tzinfo=tz).replace(fold=fold).astimezone(UTC)
        for t in clock
        for fold in (0, 1)
    }
    edges.update(_offset_changes(day_start, day_end, tz))
    return tuple(sorted(edges))


def _boundaries_after(at: datetime, night: NightHold, tz: ZoneInfo) -> Iterator[datetime]:
    """Instants after `at` where the night window may start or end, in order."""
    return wall_edges_after(at, (night.start, night.end), tz)


def hold_at(rule: HeldRule, at: datetime, tz: ZoneInfo) -> timedelta:
    """The hold in force at instant `at`."""
    night = rule.night
    if night is not None and is_in_window(at.astimezone(tz).time(), night.start, night.end):
        return timedelta(seconds=night.hold_s)
    return timedelta(seconds=rule.hold_s)


# The stretch of constant hold the last door opening under each (day hold, night, zone)
# fell in, from the opening to the next night edge: openings come in time order, so most
# fall in the stretch of the one before and are due one addition later, without walking
# the day's edges again. A handful of keys (one per held rule and zone); bounded anyway.
# Keyed by the hold's settings, not the NightHold model: a pydantic model hashes slowly.
_Stretch = tuple[datetime, datetime, timedelta]
_StretchKey = tuple[float, time, time, float, ZoneInfo]
_stretches: dict[_StretchKey, _Stretch] = {}
_MAX_STRETCHES = 64


def held_due_at(rule: HeldRule, since_at: datetime, tz: ZoneInfo) -> datetime:
    """When a condition that began at `since_at` and keeps holding raises its alert."""
    night = rule.night
    if night is None:
        return since_at + timedelta(seconds=rule.hold_s)
    key = (rule.hold_s, night.start, night.end, night.hold_s, tz)
    stretch = _stretches.get(key)
    if stretch is not None and stretch[0] <= since_at < stretch[1]:
        due = since_at + stretch[2]
        if due < stretch[1]:
            return due
    return walk_held_due_at(rule, since_at, tz, key)


def walk_held_due_at(
    rule: HeldRule,
    since_at: datetime,
    tz: ZoneInfo,
    key: _StretchKey | None = None,
) -> datetime:
    """`held_due_at` from the night edges after `since_at`, one stretch of constant hold
    at a time; with `key`, the first stretch is kept for the next opening."""
    night = rule.night
    assert night is not None  # noqa: S101  # held_due_at answers the rest
    segment_start = since_at
    for boundary in _boundaries_after(since_at, night, tz):
        # hold(x) is constant on [segment_start, boundary)
        hold = hold_at(rule, segment_start, tz)
        if key is not None and segment_start == since_at:
            if len(_stretches) >= _MAX_STRETCHES:
                _stretches.clear()
            _stretches[key] = (since_at, boundary, hold)
        candidate = max(segment_start, since_at + hold)
        if candidate < boundary:
            return candidate
        segment_start = boundary
    raise AssertionError("unreachable: boundaries never end")  # pragma: no cover
