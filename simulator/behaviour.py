"""What the sensors of a site send: ordinary resident traffic, heartbeats and incidents.

Pure: devices, seed, a start instant and a scenario in; messages out, ordered by time. No
clock, no I/O, no global random state: the same inputs give the same messages. Each
device draws from its own `random.Random` seeded by (seed, device, stream), so adding a
device or an incident leaves every other device's traffic as it was.

    door   residents arrive as a Poisson process following the daily curve (daily.py:
           morning and evening peaks, nobody in the quiet hours), `rate_per_h` a day's
           mean, x `gate_factor` on compound gates, x `rate_scale`; each opens the door
           for `min_open_s`..`max_open_s`; someone arriving while it is open keeps it open,
           but never past `max_ordinary_open_s` after it opened (a door closer), so
           ordinary traffic cannot look like a door left open. Ordinary traffic stays
           clear of a door incident on the same door (incidents.py says what each does).
    other  the resting state (no smoke, dry, 0 cm; a lift parked level, in service)
           until an incident changes it; a lift monitor reports the car's whole state.
    all    re-report the current state every `heartbeat_s` (±10 %), the first report within
           a few seconds of the start; now and then with `battery`. Offline devices are
           silent; a storm adds re-reports.

Times are whole milliseconds after `start_at`; `event_at` is that instant in UTC ISO 8601.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from simulator import incidents as physics
from simulator.daily import TOP_FACTOR, DailyCurve
from simulator.scenario import IncidentKind, StagedIncident
from simulator.site import SimDevice
from simulator.vocabulary import DOOR, rest_fields, state_field

_CLEAR_MS = 1000  # ordinary traffic keeps this far away from an incident on the same door
_FIRST_REPORT_MAX_S = 5.0
# at one millisecond: a state change, then a battery report, availability, a heartbeat
_STATE, _BATTERY, _AVAILABILITY, _HEARTBEAT = 0, 1, 2, 3

Op = tuple[int, int, int, object]  # (ms, order, sequence, value): sequence breaks ties


@dataclass(frozen=True)
class Behaviour:
    """How residents and sensors behave; defaults are an ordinary residential community."""

    rate_per_h: float = 4.0  # openings of a unit door, mean over a day
    gate_factor: float = 4.0
    rate_scale: float = 1.0
    min_open_s: float = 3.0
    max_open_s: float = 15.0
    max_ordinary_open_s: float = 20.0
    heartbeat_s: float = 60.0
    battery_share: float = 0.1  # share of heartbeats that also carry `battery`

    def __post_init__(self) -> None:
        if self.rate_scale < 0 or self.rate_per_h < 0:
            raise ValueError("traffic rates must not be negative")
        if self.max_ordinary_open_s <= 0 or self.heartbeat_s <= 0:
            raise ValueError("max_ordinary_open_s and heartbeat_s must be positive")
        if not 0 < self.min_open_s <= self.max_open_s:
            raise ValueError("need 0 < min_open_s <= max_open_s")


@dataclass(frozen=True)
class Message:
    """One message a device sends at `at` (aware UTC): a reading (payload in gridgate's
    native format) or its availability (payload `{"online": bool}`)."""

    at: datetime
    device_id: str
    payload: dict[str, Any]
    topic: Literal["reading", "availability"] = "reading"


def messages(
    devices: Iterable[SimDevice],
    incidents: Iterable[StagedIncident],
    *,
    seed: int,
    start_at: datetime,
    duration: timedelta | None,
    curve: DailyCurve = DailyCurve(),  # noqa: B008  # frozen, never mutated
    behaviour: Behaviour = Behaviour(),
) -> Iterator[Message]:
    """All devices' messages in time order; endless when `duration` is None."""
    if start_at.tzinfo is None:
        raise ValueError("start_at must be an aware datetime")
    by_device: dict[str, list[StagedIncident]] = {}
    for incident in incidents:
        by_device.setdefault(incident.device_id, []).append(incident)
    streams = []
    for index, device in enumerate(sorted(devices, key=lambda d: d.device_id)):
        own = by_device.get(device.device_id, [])
        events = _device_events(device, own, seed, start_at, curve, behaviour)
        streams.append(_tagged(events, index, device))
    merged: Iterator[tuple[int, int, int, SimDevice, str, dict[str, Any]]] = heapq.merge(*streams)
    if duration is not None:
        end_ms = round(duration.total_seconds() * 1000)
        merged = itertools.takewhile(lambda item: item[0] < end_ms, merged)
    for ms, _index, _n, device, topic, fields in merged:
        at = start_at + timedelta(milliseconds=ms)
        if topic == "availability":
            yield Message(at, device.device_id, fields, "availability")
            continue
        payload = {
            "kind": device.kind,
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
    curve: DailyCurve = DailyCurve(),  # noqa: B008  # frozen, never mutated
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
            curve=curve,
            behaviour=behaviour,
        )
    )


def _tagged(
    events: Iterator[tuple[int, str, dict[str, Any]]], index: int, device: SimDevice
) -> Iterator[tuple[int, int, int, SimDevice, str, dict[str, Any]]]:
    """(ms, device index, order within the device, ...) keeps the merge total and stable."""
    for n, (ms, topic, fields) in enumerate(events):
        yield ms, index, n, device, topic, fields


def _rng(seed: int, device_id: str, stream: str) -> random.Random:
    return random.Random(f"{seed}/{device_id}/{stream}")


def _device_events(
    device: SimDevice,
    incidents: list[StagedIncident],
    seed: int,
    start_at: datetime,
    curve: DailyCurve,
    behaviour: Behaviour,
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """One device's (ms, topic, fields) in time order."""
    field = state_field(device.kind)
    seq = itertools.count()
    streams: list[Iterator[Op]] = [
        _incident_ops(incidents, seq, seed, device.device_id),
        _heartbeats(_rng(seed, device.device_id, "heartbeat"), behaviour, seq),
    ]
    if device.kind == DOOR:
        windows = sorted((i.at_ms, i.end_ms) for i in incidents if i.kind in physics.CLEARS_TRAFFIC)
        traffic = _traffic(
            _rng(seed, device.device_id, "traffic"), device, start_at, curve, behaviour
        )
        clear = ((o, c) for o, c in traffic if not _near_incident(o, c, windows))
        streams.append(_door_ops(clear, seq))
    battery = _rng(seed, device.device_id, "battery").uniform(55.0, 100.0)
    state: dict[str, Any] = rest_fields(device.kind)
    is_online = True
    with_battery = False
    for ms, order, _seq, value in heapq.merge(*streams):
        if order == _AVAILABILITY:
            is_online = value is True
            yield ms, "availability", {"online": is_online}
            continue
        if order == _STATE:  # a value of the state field, or the lift fields that change
            state = {**state, **value} if isinstance(value, dict) else {field: value}
        elif order == _BATTERY:
            battery = _number(value)
        else:  # a heartbeat: the value is the charge it used, and whether it reports it
            used, with_battery = _pair(value)
            battery = max(0.0, battery - used)
        if not is_online:
            continue
        fields: dict[str, Any] = dict(state)
        if order == _BATTERY or (order == _HEARTBEAT and with_battery):
            fields["battery"] = round(battery, 1)
        yield ms, "reading", fields


def _number(value: object) -> float:
    if not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")  # pragma: no cover
    return float(value)


def _pair(value: object) -> tuple[float, bool]:
    if not isinstance(value, tuple):
        raise TypeError(f"expected (used, with_battery), got {value!r}")  # pragma: no cover
    return _number(value[0]), bool(value[1])


def _near_incident(open_ms: int, close_ms: int, windows: list[tuple[int, int]]) -> bool:
    return any(open_ms < end + _CLEAR_MS and start < close_ms + _CLEAR_MS for start, end in windows)


def _door_ops(intervals: Iterator[tuple[int, int]], seq: Iterator[int]) -> Iterator[Op]:
    for open_ms, close_ms in intervals:
        yield open_ms, _STATE, next(seq), True
        yield close_ms, _STATE, next(seq), False


def _incident_ops(
    incidents: list[StagedIncident], seq: Iterator[int], seed: int, device_id: str
) -> Iterator[Op]:
    """Every incident's changes on this device, in time order (computed up front)."""
    ops: list[Op] = []
    for incident in incidents:
        ops += _one_incident(incident, seq, seed, device_id)
    return iter(sorted(ops))


def _one_incident(
    incident: StagedIncident, seq: Iterator[int], seed: int, device_id: str
) -> list[Op]:
    kind, at, end = incident.kind, incident.at_ms, incident.end_ms
    ops: list[Op] = []
    for open_ms, close_ms in physics.door_openings(incident):
        ops.append((open_ms, _STATE, next(seq), True))
        if kind == IncidentKind.DOOR_LEFT_OPEN:
            step = (close_ms - open_ms) / (physics.LEFT_OPEN_REPORTS + 1)
            for k in range(1, physics.LEFT_OPEN_REPORTS + 1):
                ops.append((open_ms + round(k * step), _STATE, next(seq), True))
        ops.append((close_ms, _STATE, next(seq), False))
    if kind in physics.ON_OFF_INCIDENTS:
        ops += [(at, _STATE, next(seq), True), (end, _STATE, next(seq), False)]
    elif kind == IncidentKind.FLOOD:
        ops += [(ms, _STATE, next(seq), level) for ms, level in physics.flood_levels(incident)]
    elif kind == IncidentKind.BATTERY_DRAIN:
        ops += [(ms, _BATTERY, next(seq), pct) for ms, pct in physics.battery_levels(incident)]
    elif kind == IncidentKind.OFFLINE:
        ops += [(at, _AVAILABILITY, next(seq), False), (end, _AVAILABILITY, next(seq), True)]
    elif kind in physics.LIFT_INCIDENTS:
        ops += [(ms, _STATE, next(seq), changes) for ms, changes in physics.lift_changes(incident)]
    elif kind == IncidentKind.STORM:
        rng = _rng(seed, device_id, f"storm/{at}")
        instants = sorted(rng.randrange(at, max(at + 1, end)) for _ in range(incident.count))
        ops += [(ms, _HEARTBEAT, next(seq), (0.0, False)) for ms in instants]
    return ops


def _heartbeats(rng: random.Random, behaviour: Behaviour, seq: Iterator[int]) -> Iterator[Op]:
    """Heartbeat instants; the value is (battery used, whether to report the battery)."""
    t = rng.uniform(0.0, min(_FIRST_REPORT_MAX_S, behaviour.heartbeat_s))
    while True:
        used = rng.uniform(0.0, 0.01)
        with_battery = rng.random() < behaviour.battery_share
        yield round(t * 1000), _HEARTBEAT, next(seq), (used, with_battery)
        t += behaviour.heartbeat_s * rng.uniform(0.9, 1.1)


def _traffic(
    rng: random.Random,
    device: SimDevice,
    start_at: datetime,
    curve: DailyCurve,
    behaviour: Behaviour,
) -> Iterator[tuple[int, int]]:
    """Ordinary openings (open_ms, close_ms), disjoint and in order; endless."""
    factor = behaviour.rate_scale * (behaviour.gate_factor if device.is_gate else 1.0)
    mean_rate = behaviour.rate_per_h * factor / 3600.0
    top_rate = mean_rate * TOP_FACTOR
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
        rate = mean_rate * curve.factor(start_at + timedelta(seconds=t))
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
