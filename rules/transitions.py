"""How each condition's track changes on a reading, and when its timer comes due.

One pair of functions per `when:` (absence and node_offline live in rules/inhibition.py):
`observe_*(ledger, rule, key, track, reading, at, now)` with `at` the reading's event time
(bounded by the rule file's max_lateness_s), and `fire(ledger, rule, key, track, now)` for
a track whose `next_at()` has come. Instants in events are event time; `now` only stamps
when a raise or reminder was made.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rules.ledger import Ledger
from rules.model import (
    AbsenceRule,
    AnyRule,
    CountRule,
    HeldRule,
    ImmediateRule,
    InactivityRule,
    NodeOfflineRule,
    ThresholdRule,
)
from rules.tracks import Track, TrackKey, instant, iso, shared_data
from rules.windows import allowed_from, raise_due
from sensors.reading import Reading


def observe_state(
    led: Ledger,
    rule: HeldRule | ImmediateRule,
    key: TrackKey,
    track: Track | None,
    reading: Reading,
    at: datetime,
    now: datetime,
) -> None:
    """held and immediate: a condition on the reading's fields, true until a reading says not."""
    holds = rule.holds(reading.fields)
    if holds is None:
        return  # the reading does not report the fields (a heartbeat, a battery report)
    if holds and track is None:
        due = raise_due(rule, at, led.tz)
        if isinstance(rule, ImmediateRule) and due == at:  # raised on the spot
            led.raise_alert(rule, key, Track(since_at=at, due_at=None, is_raised=False), now, None)
            return
        led.put(key, Track(since_at=at, due_at=due, is_raised=False))
    elif not holds and track is not None:
        led.clear_alert(rule, key, track, at, keep=False)
    # a repeated report of the same state changes nothing: the timer keeps its start


def observe_threshold(
    led: Ledger, rule: ThresholdRule, key: TrackKey, track: Track | None, value: float, at: datetime
) -> None:
    if track is None:
        if rule.is_over(value):
            due = raise_due(rule, at, led.tz)
            led.put(key, Track(since_at=at, due_at=due, is_raised=False, data={"value": value}))
        return
    if (track.is_raised and rule.is_back(value)) or (
        not track.is_raised and not rule.is_over(value)
    ):
        led.clear_alert(rule, key, track, at, keep=False)
    elif track.data.get("value") != value:
        track.data = {**track.data, "value": value}
        led.put(key, track)


def observe_count(
    led: Ledger, rule: CountRule, key: TrackKey, track: Track | None, value: object, at: datetime
) -> None:
    """Count transitions to `equals` (a repeated report of the same value is not one)."""
    window = timedelta(seconds=rule.window_s)
    last = track.data.get("last") if track is not None else None
    is_transition = value == rule.equals and last != rule.equals
    if track is None:
        if not is_transition:
            return
        track = Track(since_at=at, due_at=None, is_raised=False)
    # the counted openings, oldest first: those that left the window drop off the front
    # (parsing one or two instants, not every one, per report)
    kept: list[str] = track.data.get("times", [])
    cutoff = at - window
    first = 0
    while first < len(kept) and instant(kept[first]) <= cutoff:
        first += 1
    times = kept[first:]
    if is_transition:
        if times and instant(times[-1]) > at:  # a late report: among the others, in order
            times = sorted([*times, iso(at)], key=instant)
        else:
            times.append(iso(at))
        times = times[-(rule.more_than + 1) :]
    data = {**track.data, "last": value, "times": times}
    if times:
        track.since_at = instant(times[0])
    if track.is_raised and times:
        data["clear_at"] = iso(instant(times[0]) + window)
    elif not track.is_raised and is_transition and len(times) > rule.more_than:
        track.due_at = allowed_from(rule, at, led.tz)
    if not times and not track.is_raised and value != rule.equals:
        led.drop(key)
        return
    is_only_last = not is_transition and times == track.data.get("times")
    track.data = data
    if is_only_last and not track.is_raised and led.tracks.get(key) is track:
        # only `last` moved (the door closed): not worth a write per close; a restart that
        # lost it counts an opening fewer at most
        led.refresh(key, track)
        return
    led.put(key, track)


def observe_inactivity(
    led: Ledger,
    rule: InactivityRule,
    key: TrackKey,
    track: Track | None,
    value: object,
    at: datetime,
) -> None:
    """Only a turn to `equals` (the door opened) is activity; anything else is not."""
    last = track.data.get("last") if track is not None else None
    if track is None or (value == rule.equals and last != rule.equals):
        if track is not None and track.is_raised:
            led.clear_alert(rule, key, track, at, keep=True)
        due = allowed_from(rule, at + timedelta(seconds=rule.idle_s), led.tz)
        data = shared_data({"last": value})  # an opening: `{"last": true}`, shared
        led.put(key, Track(since_at=at, due_at=due, is_raised=False, data=data))
    elif last != value:
        track.data = {**track.data, "last": value}
        led.put(key, track)


def fire(led: Ledger, rule: AnyRule, key: TrackKey, track: Track, now: datetime) -> None:
    """Handle the earliest timer of a track (due by `now`) other than absence's own."""
    data = track.data
    if track.is_raised:
        clear_at = instant(data["clear_at"]) if "clear_at" in data else None
        closes_at = instant(data["closes_at"]) if "closes_at" in data else None
        remind_at = instant(data["remind_at"]) if "remind_at" in data else None
        first = min(t for t in (clear_at, closes_at, remind_at) if t is not None)
        if first in (clear_at, closes_at):
            led.clear_alert(rule, key, track, first, keep=True)
            _after_clear(led, rule, key, track, first)
        else:
            led.remind(rule, key, track, now)
        return
    due = track.due_at
    if due is None:  # pragma: no cover  # next_at() only offers due tracks
        return
    if isinstance(rule, CountRule):
        window = timedelta(seconds=rule.window_s)
        times = [instant(t) for t in data.get("times", []) if instant(t) > due - window]
        if len(times) <= rule.more_than:
            track.due_at = None
            led.put(key, track)
            return
        track.data = {**data, "clear_at": iso(times[0] + window)}
    led.raise_alert(rule, key, track, now, due)


def _after_clear(led: Ledger, rule: AnyRule, key: TrackKey, track: Track, at: datetime) -> None:
    """A window closed, or a count fell back: what the still-watched track waits for next."""
    if isinstance(rule, CountRule):
        track.due_at = None
        if track.data.get("last") != rule.equals:
            led.drop(key)
            return
    elif isinstance(rule, HeldRule | ThresholdRule | ImmediateRule):
        track.due_at = raise_due(rule, at, led.tz)
    elif isinstance(rule, AbsenceRule | InactivityRule):
        track.due_at = allowed_from(rule, at, led.tz)
    elif isinstance(rule, NodeOfflineRule):  # pragma: no cover  # node alerts have no window
        return
    led.put(key, track)
