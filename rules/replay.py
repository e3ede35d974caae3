"""Replay a recorded stream in event time: the same alerts as running it live.

`now` is derived from event time: before each reading the engine is ticked at every due
time up to the reading's `event_at` (as the gateway's scheduler would, sleeping until
`next_due_at()`), then the reading is observed at its own `event_at`; at the end every
timer still pending up to `until` (default: the last reading) fires. A device's readings
are applied in the order given, as the gateway applies them in the order they arrive: one
stamped earlier than the device's last is applied at the last one's instant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from rules.engine import Engine
from rules.model import RuleFile
from rules.scope import Where
from rules.tracks import AlertEvent
from sensors.reading import Reading


def run_until(engine: Engine, now: datetime, until: datetime) -> list[AlertEvent]:
    """From `now`, tick at every due time up to `until`, in order (time never goes back)."""
    events: list[AlertEvent] = []
    while (due := engine.next_due_at()) is not None and due <= until:
        now = max(now, due)
        events.extend(engine.tick(now))
    return events


def replay(
    rules: RuleFile,
    readings: Iterable[Reading],
    where: Mapping[str, Where] | None,
    tz: ZoneInfo,
    *,
    start: datetime | None = None,
    until: datetime | None = None,
) -> list[AlertEvent]:
    """The alert events `readings` produce, driven by their event time.

    The engine starts at `start` (default: the first reading's event time); devices that
    `where` lists and that never report are watched (offline, inactivity) from then.
    """
    engine = Engine(rules, tz, where)
    events: list[AlertEvent] = []
    last_at: dict[str, datetime] = {}
    now: datetime | None = start
    if start is not None:
        events.extend(engine.tick(start))
    for reading in readings:
        seen = last_at.get(reading.device_id)
        if seen is not None and reading.event_at < seen:
            reading = reading._replace(event_at=seen)  # time never runs back for a device
        last_at[reading.device_id] = reading.event_at
        at = reading.event_at if now is None else max(now, reading.event_at)
        events.extend(run_until(engine, now or at, at))
        now = at
        events.extend(engine.observe(reading, now))
    end = until if until is not None else now
    if end is not None:
        events.extend(run_until(engine, now or end, end))
    return events
