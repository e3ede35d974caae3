"""Pure time arithmetic for conditions: when a held condition becomes due.

A held condition (door open) is due at the earliest instant `x >= since_at` such that
`x - since_at >= hold(x)`, where `hold(x)` is the night hold when `x`'s wall-clock time in
the site's timezone is inside the night window, else the day hold. So a door opened at
21:59 by day (hold 180 s) is due at 22:00:00, when the night hold (30 s) is already
exceeded; a door opened at 05:59:50 at night would be due at 06:00:20, but the day hold
takes over at 06:00 and it is due at 06:02:50.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rules.model import HeldRule, NightHold


def is_in_window(local: time, start: time, end: time) -> bool:
    """Whether a wall-clock time lies in [start, end); windows may wrap midnight."""
    if start < end:
        return start <= local < end
    return local >= start or local < end


def _boundaries_after(at: datetime, night: NightHold, tz: ZoneInfo) -> Iterator[datetime]:
    """The instants after `at` where the night window starts or ends, in order."""
    local_day = at.astimezone(tz).date() - timedelta(days=1)
    while True:
        edges = sorted(
            datetime.combine(local_day, t, tzinfo=tz).astimezone(UTC)
            for t in (night.start, night.end)
        )
        for edge in edges:
            if edge > at:
                yield edge
        local_day += timedelta(days=1)


def hold_at(rule: HeldRule, at: datetime, tz: ZoneInfo) -> timedelta:
    """The hold in force at instant `at`."""
    night = rule.night
    if night is not None and is_in_window(at.astimezone(tz).time(), night.start, night.end):
        return timedelta(seconds=night.hold_s)
    return timedelta(seconds=rule.hold_s)


def held_due_at(rule: HeldRule, since_at: datetime, tz: ZoneInfo) -> datetime:
    """When a condition that began at `since_at` and keeps holding raises its alert."""
    if rule.night is None:
        return since_at + timedelta(seconds=rule.hold_s)
    segment_start = since_at
    for boundary in _boundaries_after(since_at, rule.night, tz):
        # hold(x) is constant on [segment_start, boundary)
        candidate = max(segment_start, since_at + hold_at(rule, segment_start, tz))
        if candidate < boundary:
            return candidate
        segment_start = boundary
    raise AssertionError("unreachable: boundaries never end")  # pragma: no cover
