"""Ground truth: the alerts gridgate should raise for the staged incidents, and when.

door_left_open        due at the earliest x >= opened_at with x - opened_at >= hold(x),
                      hold(x) the night hold when x is in the night window, else the day
                      hold; only when the door is still open at x. Any door incident.
door_forced_at_night  a door opening (closed → open) whose instant lies in the quiet
                      window (01:00-04:00 local): due at the opening. Any door incident.
door_flapping         `flap_count` openings within `flap_window_s`: due at the last of them.
smoke_detected, gas_detected, water_leak   due when the sensor first reports it.
flood_level           due `flood_hold_s` after the first report with level_cm >= `flood_level_cm`.
device_offline        due `offline_hold_s` after the availability goes offline, when the
                      device is still offline then.
battery_low           due at the first report with battery < `battery_low_pct`.
elderly_inactivity    due `inactive_hold_s` after the last opening of the watched door,
                      when no opening came in between.
lift_trapped          due when the monitor first reports passengers trapped.
lift_stopped_between_floors  due `lift_stopped_hold_s` after the car stopped between
                      floors (trapped or not), when it is still stopped then.
storm                 nothing: re-reports of unchanged state raise no alert.

Written as JSON lines: {"rule": ..., "device_id": ..., "due_at": "<aware UTC ISO>"}.
The rules package is not imported on purpose: this is the independent opinion.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from simulator import incidents as physics
from simulator.daily import quiet_window
from simulator.night import DEFAULT_TIMEZONE, NightWindow
from simulator.scenario import IncidentKind, StagedIncident

DOOR_LEFT_OPEN = "door_left_open"
DOOR_FORCED_AT_NIGHT = "door_forced_at_night"
DOOR_FLAPPING = "door_flapping"
SMOKE_DETECTED = "smoke_detected"
GAS_DETECTED = "gas_detected"
WATER_LEAK = "water_leak"
FLOOD_LEVEL_HIGH = "flood_level"
DEVICE_OFFLINE = "device_offline"
BATTERY_LOW = "battery_low"
ELDERLY_INACTIVE = "elderly_inactivity"
LIFT_TRAPPED = "lift_trapped"
LIFT_STOPPED = "lift_stopped_between_floors"
RULES = (
    DOOR_LEFT_OPEN, DOOR_FORCED_AT_NIGHT, DOOR_FLAPPING, SMOKE_DETECTED, GAS_DETECTED,
    WATER_LEAK, FLOOD_LEVEL_HIGH, DEVICE_OFFLINE, BATTERY_LOW, ELDERLY_INACTIVE,
    LIFT_TRAPPED, LIFT_STOPPED,
)  # fmt: skip
_IMMEDIATE = {
    IncidentKind.SMOKE: SMOKE_DETECTED,
    IncidentKind.GAS: GAS_DETECTED,
    IncidentKind.WATER_LEAK: WATER_LEAK,
}
DAY_HOLD_S = 180.0
NIGHT_HOLD_S = 30.0


@dataclass(frozen=True)
class Holds:
    """The rules' thresholds as the truth assumes them (the shipped rules' values)."""

    day_hold_s: float = DAY_HOLD_S
    night_hold_s: float = NIGHT_HOLD_S
    night: NightWindow = NightWindow()  # noqa: RUF009  # frozen dataclass, safe to share
    quiet: NightWindow = field(default_factory=lambda: quiet_window(ZoneInfo(DEFAULT_TIMEZONE)))
    # defaults follow the shipped rules (rules/defaults/*.yaml); each is a CLI option
    flap_count: int = 31  # door_flapping: more than 30 openings in 10 minutes
    flap_window_s: float = 600.0
    flood_level_cm: float = 30.0  # flood_level: above 30 cm ...
    flood_hold_s: float = 60.0  # ... for 60 s
    offline_hold_s: float = 0.0
    battery_low_pct: float = 15.0  # battery_low: below 15 %
    inactive_hold_s: float = 86_400.0
    lift_stopped_hold_s: float = 30.0  # lift_stopped_between_floors: held 30 s

    def hold_at(self, at: datetime) -> timedelta:
        seconds = self.night_hold_s if self.night.contains(at) else self.day_hold_s
        return timedelta(seconds=seconds)


@dataclass(frozen=True)
class ExpectedAlert:
    rule: str
    device_id: str
    due_at: datetime

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "device_id": self.device_id, "due_at": self.due_at.isoformat()}


def door_due_at(opened_at: datetime, holds: Holds) -> datetime:
    """Earliest x >= opened_at with x - opened_at >= hold(x); hold changes only at edges."""
    segment_at = opened_at
    for edge in holds.night.boundaries_after(opened_at):
        candidate = max(segment_at, opened_at + holds.hold_at(segment_at))
        if candidate < edge:
            return candidate
        segment_at = edge
    raise AssertionError("boundaries_after never ends")  # pragma: no cover


def expected_alerts(
    incidents: list[StagedIncident],
    start_at: datetime,
    holds: Holds,
    end_at: datetime | None = None,
) -> list[ExpectedAlert]:
    """The alerts the incidents should cause. Nothing happens at or after `end_at` (the
    run has stopped), but what holds then holds on: a door still open stays open, its
    alert counts even when due later."""

    def at(ms: int) -> datetime:
        return start_at + timedelta(milliseconds=ms)

    def played(ms: int) -> bool:
        return end_at is None or at(ms) < end_at

    alerts: list[ExpectedAlert] = []
    for incident in incidents:
        if not played(incident.at_ms):
            continue

        def add(rule: str, due_at: datetime, device_id: str = incident.device_id) -> None:
            alerts.append(ExpectedAlert(rule, device_id, due_at))

        _door_alerts(incident, holds, at, played, add)
        kind = incident.kind
        if kind in _IMMEDIATE:
            add(_IMMEDIATE[kind], at(incident.at_ms))
        elif kind == IncidentKind.FLOOD:
            high = [ms for ms, cm in physics.flood_levels(incident) if cm >= holds.flood_level_cm]
            if high and played(high[0]):
                add(FLOOD_LEVEL_HIGH, at(high[0]) + timedelta(seconds=holds.flood_hold_s))
        elif kind == IncidentKind.BATTERY_DRAIN:
            low = [
                ms for ms, pct in physics.battery_levels(incident) if pct < holds.battery_low_pct
            ]
            if low and played(low[0]):
                add(BATTERY_LOW, at(low[0]))
        elif kind == IncidentKind.OFFLINE:
            due_at = at(incident.at_ms) + timedelta(seconds=holds.offline_hold_s)
            if due_at < at(incident.end_ms) or not played(incident.end_ms):
                add(DEVICE_OFFLINE, due_at)
        elif kind in physics.LIFT_INCIDENTS:
            if kind == IncidentKind.LIFT_TRAPPED:
                add(LIFT_TRAPPED, at(incident.at_ms))
            due_at = at(incident.at_ms) + timedelta(seconds=holds.lift_stopped_hold_s)
            if due_at < at(incident.end_ms) or not played(incident.end_ms):
                add(LIFT_STOPPED, due_at)
        elif kind == IncidentKind.ELDERLY_INACTIVE:
            last_open_ms = physics.door_openings(incident)[-1][0]
            due_at = at(last_open_ms) + timedelta(seconds=holds.inactive_hold_s)
            if due_at < at(incident.end_ms) or not played(incident.end_ms):
                add(ELDERLY_INACTIVE, due_at)
    return sorted(alerts, key=lambda a: (a.due_at, a.device_id, a.rule))


def _door_alerts(
    incident: StagedIncident,
    holds: Holds,
    at: Callable[[int], datetime],
    played: Callable[[int], bool],
    add: Callable[[str, datetime], None],
) -> None:
    openings = [(o, c) for o, c in physics.door_openings(incident) if played(o)]
    for open_ms, close_ms in openings:
        opened_at = at(open_ms)
        if holds.quiet.contains(opened_at):
            add(DOOR_FORCED_AT_NIGHT, opened_at)
        due_at = door_due_at(opened_at, holds)
        if due_at < at(close_ms) or not played(close_ms):
            add(DOOR_LEFT_OPEN, due_at)
    need = holds.flap_count
    window = timedelta(seconds=holds.flap_window_s)
    for i in range(need - 1, len(openings)):
        if at(openings[i][0]) - at(openings[i - need + 1][0]) <= window:
            add(DOOR_FLAPPING, at(openings[i][0]))
            break


def truth_jsonl(alerts: list[ExpectedAlert]) -> str:
    return "".join(json.dumps(a.to_json(), ensure_ascii=False) + "\n" for a in alerts)


def write_truth(path: Path, alerts: list[ExpectedAlert]) -> None:
    path.write_text(truth_jsonl(alerts), encoding="utf-8")


def read_truth(path: Path) -> list[ExpectedAlert]:
    alerts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            due_at = datetime.fromisoformat(raw["due_at"])
            alerts.append(ExpectedAlert(raw["rule"], raw["device_id"], due_at))
    return alerts
