"""Wall-clock windows on any rule, in the site's timezone.

- `window: {start, end}` makes the wall clock part of the condition ("door open AND
  night"): nothing is raised outside it, a hold counts only inside it, and a raised alert
  clears when the window closes.
- `quiet: {start, end}` postpones raising: an alert due inside quiet hours is raised when
  they end, if its condition still holds then. Alerts already raised stay.

All functions return computed instants (no polling); windows may wrap midnight.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from rules.conditions import held_due_at, is_in_window, wall_edges_after
from rules.model import AnyRule, HeldRule, ThresholdRule

# a window shorter than the hold never lets a condition raise; stop looking after a year
_MAX_EDGES = 800

# The span last found on each side of a window, per (start, end, timezone): every door
# opened by day asks when the night window opens next, and the answer is the same until
# it does. (lo, hi): the window is closed (open) for the whole of [lo, hi), and hi is the
# first instant from any of them at which it opens (closes).
_Spans = dict[tuple[time, time, ZoneInfo], tuple[datetime, datetime]]
_closed_spans: _Spans = {}
_open_spans: _Spans = {}


def _span_end(spans: _Spans, key: tuple[time, time, ZoneInfo], at: datetime) -> datetime | None:
    span = spans.get(key)
    if span is not None and span[0] <= at < span[1]:
        return span[1]
    return None


def is_allowed(rule: AnyRule, at: datetime, tz: ZoneInfo) -> bool:
    """Whether a rule may raise at instant `at` (inside its window, outside quiet hours)."""
    if rule.window is None and rule.quiet is None:
        return True
    local = at.astimezone(tz).time()
    if rule.window is not None and not is_in_window(local, rule.window.start, rule.window.end):
        return False
    return rule.quiet is None or not is_in_window(local, rule.quiet.start, rule.quiet.end)


def _clock(rule: AnyRule) -> tuple[time, ...]:
    times = []
    for window in (rule.window, rule.quiet):
        if window is not None:
            times += [window.start, window.end]
    return tuple(times)


def allowed_from(rule: AnyRule, at: datetime, tz: ZoneInfo) -> datetime | None:
    """The first instant >= `at` at which the rule may raise; None if never."""
    if is_allowed(rule, at, tz):
        return at
    for n, edge in enumerate(wall_edges_after(at, _clock(rule), tz)):
        if is_allowed(rule, edge, tz):
            return edge
        if n > _MAX_EDGES:
            break
    return None


def window_closes_at(rule: AnyRule, at: datetime, tz: ZoneInfo) -> datetime | None:
    """When the window that contains `at` closes; None for a rule without a window."""
    window = rule.window
    if window is None:
        return None
    key = (window.start, window.end, tz)
    known = _span_end(_open_spans, key, at)
    if known is not None:
        return known
    is_open = is_in_window(at.astimezone(tz).time(), window.start, window.end)
    for n, edge in enumerate(wall_edges_after(at, (window.start, window.end), tz)):
        if not is_in_window(edge.astimezone(tz).time(), window.start, window.end):
            if is_open:
                _open_spans[key] = (at, edge)
            return edge
        if n > _MAX_EDGES:
            break
    return None  # pragma: no cover  # a window with start != end always closes


def _hold_until(rule: AnyRule, start: datetime, tz: ZoneInfo) -> datetime:
    if isinstance(rule, HeldRule):
        return held_due_at(rule, start, tz)
    if isinstance(rule, ThresholdRule):
        return start + timedelta(seconds=rule.hold_s)
    return start


def raise_due(rule: AnyRule, since_at: datetime, tz: ZoneInfo) -> datetime | None:
    """When a condition that began at `since_at` and keeps holding raises; None if never.

    The hold (held, threshold; none for immediate) counts only inside the rule's window:
    it starts when the window opens, and starts over at the next opening if the window
    closes first. Quiet hours then postpone the result to their end.
    """
    start: datetime | None = since_at
    due = since_at
    for _ in range(_MAX_EDGES):
        if rule.window is not None:
            start = _window_open_from(rule, start, tz) if start is not None else None
        if start is None:
            return None
        due = _hold_until(rule, start, tz)
        closes = window_closes_at(rule, start, tz)
        if closes is None or due < closes:
            break
        start = closes
    else:
        return None
    return allowed_from(rule, due, tz)


def _window_open_from(rule: AnyRule, at: datetime, tz: ZoneInfo) -> datetime | None:
    window = rule.window
    assert window is not None  # noqa: S101  # callers check
    if is_in_window(at.astimezone(tz).time(), window.start, window.end):
        return at
    key = (window.start, window.end, tz)
    known = _span_end(_closed_spans, key, at)
    if known is not None:
        return known
    for n, edge in enumerate(wall_edges_after(at, (window.start, window.end), tz)):
        if is_in_window(edge.astimezone(tz).time(), window.start, window.end):
            _closed_spans[key] = (at, edge)
            return edge
        if n > _MAX_EDGES:
            break
    return None  # pragma: no cover
