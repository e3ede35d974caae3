"""What the sensors of a site send: ordinary resident traffic, heartbeats and incidents.

Pure: devices, seed, a start instant and a scenario in; messages out, ordered by time. No
clock, no I/O, no global random state: the same inputs give the same messages. Each
device draws from its own `random.Random` seeded by (seed, device, stream), so adding a
device or an incident leaves every other device's traffic as it was.

    door   residents arrive as a Poisson process (`day_rate_per_h` by day, `night_rate_per_h`
           in the night window, x `gate_factor` on compound gates, x `rate_scale`); each opens
           the door for `min_open_s`..`max_open_s`; someone arriving while it is open keeps it
           open, but never past `max_ordinary_open_s` after it opened (a door closer), so
           ordinary traffic cannot look like a door left open. A door_left_open incident
           opens it at T, re-reports `open` a few times and closes it at T+D; ordinary
           traffic on that door stays clear of the incident.
    smoke  `smoke: false` heartbeats; a smoke incident reports `true` at T, `false` at T+D.
    all    re-report the current state every `heartbeat_s` (±10 %), the first report within
           a few seconds of the start; now and then with `battery`.

Times are whole milliseconds after `start_at`; `event_at` is that instant in UTC ISO 8601.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sensors.kinds import Kind
from simulator.night import NightWindow
from simulator.scenario import StagedIncident
from simulator.site import SimDevice

_INCIDENT_REPORTS = 3  # open re-reports inside a door_left_open incident
_CLEAR_MS = 1000  # ordinary traffic keeps this far away from an incident on the same door
_FIRST_REPORT_MAX_S = 5.0
_STATE, _HEARTBEAT = 0, 1  # at the same millisecond a state change goes before a heartbeat


@dataclass(frozen=True)
class Behaviour:
    """How residents and sensors behave; defaults are an ordinary residential community."""

    day_rate_per_h: float = 6.0
    night_rate_per_h: float = 1.0
    gate_factor: float = 4.0
    rate_scale: float = 1.0
    min_open_s: float = 3.0
    max_open_s: float = 15.0
    max_ordinary_open_s: float = 20.0
    heartbeat_s: float = 60.0
    battery_share: float = 0.1  # share of heartbeats that also carry `battery`

    def __post_init__(self) -> None:
        if self.rate_scale < 0 or min(self.day_rate_per_h, self.night_rate_per_h) < 0:
            raise ValueError("traffic rates must not be negative")
        if self.max_ordinary_open_s <= 0 or self.heartbeat_s <= 0:
            raise ValueError("max_ordinary_open_s and heartbeat_s must be positive")
        if not 0 < self.min_open_s <= self.max_open_s:
            raise ValueError("need 0 < min_open_s <= max_open_s")


@dataclass(frozen=True)
class Message:
    """One reading a device sends: at `at` (aware UTC), on the device's reading topic."""

    at: datetime
    device_id: str
    payload: dict[str, Any]


def messages(
    devices: Iterable[SimDevice],
    incidents: Iterable[StagedIncident],
    *,
    seed: int,
    start_at: datetime,
    duration: timedelta | None,
    night: NightWindow = NightWindow(),  # noqa: B008  # frozen, never mutated
    behaviour: Behaviour = Behaviour(),
) -> Iterator[Message]:
    """All devices' messages in time order; endless when `duration` is None."""
    if start_at.tzinfo is None:
        raise ValueError("start_at must be an aware datetime")
    staged = list(incidents)
    streams = []
    for index, device in enumerate(sorted(devices, key=lambda d: d.device_id)):
        own = [i for i in staged if i.device_id == device.device_id]
        events = _device_events(device, own, seed, start_at, night, behaviour)
        streams.append(_tagged(events, index, device))
    merged: Iterator[tuple[int, int, int, SimDevice, dict[str, Any]]] = heapq.merge(*streams)
    if duration is not None:
        end_ms = round(duration.total_seconds() * 1000)
        merged = itertools.takewhile(lambda item: item[0] < end_ms, merged)
    for ms, _index, _n, device, fields in merged:
        at = start_at + timedelta(milliseconds=ms)
        payload = {
            "kind": device.kind.value,
            "event_at": at.isoformat(timespec="microseconds"),
            "fields": fields,
        }
        yield Message(at, device.device_id, payload)


def plan(
    devices: Iterable[SimDevice],
    incidents: Iterable[StagedIncident],
    *,
    seed: int,
    start_at: datetime,
    duration: timedelta,
    night: NightWindow = NightWindow(),  # noqa: B008  # frozen, never mutated
    behaviour: Behaviour = Behaviour(),
) -> list[Message]:
    """The finite list of messages for `duration` after `start_at`."""
    return list(
        messages(
            devices,
            incidents,
            seed=seed,
            start_at=start_at,
            duration=duration,
            night=night,
            behaviour=behaviour,
        )
    )


def _tagged(
    events: Iterator[tuple[int, dict[str, Any]]], index: int, device: SimDevice
) -> Iterator[tuple[int, int, int, SimDevice, dict[str, Any]]]:
    """(ms, device index, order within the device, ...) keeps the merge total and stable."""
    for n, (ms, fields) in enumerate(events):
        yield ms, index, n, device, fields


def _rng(seed: int, device_id: str, stream: str) -> random.Random:
    return random.Random(f"{seed}/{device_id}/{stream}")


def _device_events(
    device: SimDevice,
    incidents: list[StagedIncident],
    seed: int,
    start_at: datetime,
    night: NightWindow,
    behaviour: Behaviour,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """One device's (ms, fields) in time order: state changes merged with heartbeats."""
    field = "open" if device.kind == Kind.DOOR else "smoke"
    windows = sorted((i.at_ms, i.end_ms) for i in incidents)
    if device.kind == Kind.DOOR:
        traffic = _traffic(
            _rng(seed, device.device_id, "traffic"), device, start_at, night, behaviour
        )
        clear = ((o, c) for o, c in traffic if not _near_incident(o, c, windows))
        intervals: Iterator[tuple[int, int]] = heapq.merge(clear, windows)
        changes = _door_changes(intervals, set(windows))
    else:
        changes = _smoke_changes(windows)
    heartbeats = _heartbeats(_rng(seed, device.device_id, "heartbeat"), behaviour)
    is_on = False
    for ms, order, value in heapq.merge(changes, heartbeats):
        if order == _STATE:
            is_on = value is True
            yield ms, {field: is_on}
        else:
            fields: dict[str, Any] = {field: is_on}
            if isinstance(value, float):
                fields["battery"] = value
            yield ms, fields


def _near_incident(open_ms: int, close_ms: int, windows: list[tuple[int, int]]) -> bool:
    return any(open_ms < end + _CLEAR_MS and start < close_ms + _CLEAR_MS for start, end in windows)


def _door_changes(
    intervals: Iterator[tuple[int, int]], incident_windows: set[tuple[int, int]]
) -> Iterator[tuple[int, int, object]]:
    for open_ms, close_ms in intervals:
        yield open_ms, _STATE, True
        if (open_ms, close_ms) in incident_windows:
            step = (close_ms - open_ms) / (_INCIDENT_REPORTS + 1)
            for k in range(1, _INCIDENT_REPORTS + 1):
                yield open_ms + round(k * step), _STATE, True
        yield close_ms, _STATE, False


def _smoke_changes(windows: list[tuple[int, int]]) -> Iterator[tuple[int, int, object]]:
    for start_ms, end_ms in windows:
        yield start_ms, _STATE, True
        yield end_ms, _STATE, False


def _heartbeats(rng: random.Random, behaviour: Behaviour) -> Iterator[tuple[int, int, object]]:
    """Heartbeat instants; the value is a battery level to report, or None."""
    battery = rng.uniform(55.0, 100.0)
    t = rng.uniform(0.0, min(_FIRST_REPORT_MAX_S, behaviour.heartbeat_s))
    while True:
        battery = max(0.0, battery - rng.uniform(0.0, 0.01))
        level = round(battery, 1) if rng.random() < behaviour.battery_share else None
        yield round(t * 1000), _HEARTBEAT, level
        t += behaviour.heartbeat_s * rng.uniform(0.9, 1.1)


def _traffic(
    rng: random.Random,
    device: SimDevice,
    start_at: datetime,
    night: NightWindow,
    behaviour: Behaviour,
) -> Iterator[tuple[int, int]]:
    """Ordinary openings (open_ms, close_ms), disjoint and in order; endless."""
    factor = behaviour.rate_scale * (behaviour.gate_factor if device.is_gate else 1.0)
    day_rate = behaviour.day_rate_per_h * factor / 3600.0
    night_rate = behaviour.night_rate_per_h * factor / 3600.0
    top_rate = max(day_rate, night_rate)
    if top_rate <= 0:
        return
    cap_ms = round(behaviour.max_ordinary_open_s * 1000)
    current: list[int] | None = None
    t = 0.0
    while True:
        # a non-homogeneous Poisson process by thinning: draw at the top rate, keep some
        t += rng.expovariate(top_rate)
        keep = rng.random()
        hold_s = rng.uniform(behaviour.min_open_s, behaviour.max_open_s)
        at = start_at + timedelta(seconds=t)
        rate = night_rate if night.contains(at) else day_rate
        if keep * top_rate >= rate:
            continue
        open_ms = round(t * 1000)
        close_ms = round((t + hold_s) * 1000)
        if current is not None and open_ms <= current[1]:
            current[1] = min(max(current[1], close_ms), current[0] + cap_ms)
            continue
        if current is not None:
            yield current[0], current[1]
        current = [open_ms, min(close_ms, open_ms + cap_ms)]
