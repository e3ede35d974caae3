"""Scenarios: the incidents to stage on top of ordinary traffic.

A scenario file is YAML:

    incidents:
      - {kind: door_left_open, at_s: 20, duration_s: 240}              # a seeded unit door
      - {kind: door_left_open, device_id: door-b2-u1, at_s: 600, duration_s: 45}
      - {kind: door_forced, at_local: "02:30", duration_s: 8}           # next 02:30 local
      - {kind: door_flapping, at_s: 900, duration_s: 60, count: 12}     # 12 open/close
      - {kind: smoke, at_s: 300, duration_s: 90}                        # also gas, water_leak
      - {kind: flood, at_s: 1200, duration_s: 1800}                     # level_cm rising
      - {kind: offline, at_s: 60, duration_s: 900}                      # silent, then back
      - {kind: battery_drain, at_s: 60, duration_s: 3600}               # 31 % down to 7 %
      - {kind: elderly_inactive, at_local: "09:00", duration_s: 90000}  # no opening for 25 h
      - {kind: storm, at_s: 30, duration_s: 10, count: 500}             # 500 devices at once
      - {kind: lift_trapped, at_s: 120, duration_s: 900}                # 困人, freed after 15 min
      - {kind: lift_stopped, at_s: 400, duration_s: 60}                 # stopped between floors

On the command line the same incident reads `door_left_open@20:240` or
`smoke@300:90:smoke-b1-u1` (KIND@AT_S:DURATION_S[:DEVICE_ID]). An incident whose sensor
kind sensors/kinds.py does not declare yet is skipped with a message.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulator.errors import ScenarioError
from simulator.site import SimDevice
from simulator.vocabulary import (
    DOOR,
    GAS,
    LIFT,
    SMOKE,
    WATER_LEAK,
    WATER_LEVEL,
    is_declared,
    not_declared_message,
)

log = logging.getLogger(__name__)


class IncidentKind(StrEnum):
    DOOR_LEFT_OPEN = "door_left_open"
    DOOR_FORCED = "door_forced"  # opened briefly in the quiet hours
    DOOR_FLAPPING = "door_flapping"  # `count` open/close cycles within the duration
    SMOKE = "smoke"
    GAS = "gas"
    WATER_LEAK = "water_leak"
    FLOOD = "flood"  # level_cm rises over the duration
    OFFLINE = "offline"  # availability offline, silent, back online at the end
    BATTERY_DRAIN = "battery_drain"  # battery falls from 31 % to 7 % over the duration
    ELDERLY_INACTIVE = "elderly_inactive"  # one opening, then none for the duration
    STORM = "storm"  # `count` devices re-report their state several times at once
    LIFT_TRAPPED = "lift_trapped"  # the car stops between floors with passengers inside
    LIFT_STOPPED = "lift_stopped"  # the car stops between floors, nobody inside


# The sensor kind an incident needs; None: any device (storm: many).
DEVICE_KIND: dict[IncidentKind, str | None] = {
    IncidentKind.DOOR_LEFT_OPEN: DOOR,
    IncidentKind.DOOR_FORCED: DOOR,
    IncidentKind.DOOR_FLAPPING: DOOR,
    IncidentKind.ELDERLY_INACTIVE: DOOR,
    IncidentKind.SMOKE: SMOKE,
    IncidentKind.GAS: GAS,
    IncidentKind.WATER_LEAK: WATER_LEAK,
    IncidentKind.FLOOD: WATER_LEVEL,
    IncidentKind.OFFLINE: None,
    IncidentKind.BATTERY_DRAIN: None,
    IncidentKind.STORM: None,
    IncidentKind.LIFT_TRAPPED: LIFT,
    IncidentKind.LIFT_STOPPED: LIFT,
}
DEFAULT_COUNT = {IncidentKind.DOOR_FLAPPING: 12, IncidentKind.STORM: 0}  # storm 0: every device
STORM_REPORTS = 3  # re-reports per device in a storm


class Incident(BaseModel):
    """One incident; without `device_id` the seed chooses the device."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: IncidentKind
    device_id: str | None = None
    at_s: float | None = Field(None, ge=0)
    at_local: str | None = Field(None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    duration_s: float = Field(gt=0)
    count: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_start(self) -> Incident:
        if (self.at_s is None) == (self.at_local is None):
            raise ValueError("give exactly one of at_s (after the start) or at_local (HH:MM)")
        return self


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    incidents: list[Incident] = []


DEFAULT_SCENARIO = Scenario(
    incidents=[Incident(kind=IncidentKind.DOOR_LEFT_OPEN, at_s=20, duration_s=240)]
)


@dataclass(frozen=True)
class StagedIncident:
    """An incident bound to one device of the site (a storm: one per device)."""

    kind: IncidentKind
    device_id: str
    at_s: float
    duration_s: float
    count: int = 1

    # Simulated time runs in whole milliseconds from the start instant.
    @property
    def at_ms(self) -> int:
        return round(self.at_s * 1000)

    @property
    def end_ms(self) -> int:
        return self.at_ms + round(self.duration_s * 1000)

    def label(self) -> str:
        return f"{self.kind}@{self.at_s:g}:{self.duration_s:g}:{self.device_id}"


def load_scenario(path: Path) -> Scenario:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return Scenario.model_validate(raw or {})
    except ValidationError as exc:
        raise ScenarioError(f"{path}: {_describe(exc)}") from exc


def parse_incident(text: str) -> Incident:
    """`KIND@AT_S:DURATION_S[:DEVICE_ID]` → Incident (device ids may contain `:`)."""
    kind, sep, rest = text.partition("@")
    parts = rest.split(":", 2)
    if not sep or len(parts) < 2:
        raise ScenarioError(f"incident {text!r}: expected KIND@AT_S:DURATION_S[:DEVICE_ID]")
    device_id = parts[2] if len(parts) == 3 and parts[2] else None
    try:
        return Incident.model_validate(
            {"kind": kind, "at_s": parts[0], "duration_s": parts[1], "device_id": device_id}
        )
    except ValidationError as exc:
        raise ScenarioError(f"incident {text!r}: {_describe(exc)}") from exc


def stage(
    scenario: Scenario,
    devices: list[SimDevice],
    seed: int,
    *,
    start_at: datetime | None = None,
    timezone: ZoneInfo | None = None,
    warn: Callable[[str], None] = log.warning,
) -> list[StagedIncident]:
    """Bind each incident to a device; reject unknown devices, wrong kinds and overlaps.

    An incident whose sensor kind sensors/kinds.py does not declare is skipped (`warn`)."""
    rng = random.Random(f"incidents/{seed}")
    by_id = {d.device_id: d for d in devices}
    staged: list[StagedIncident] = []
    for incident in scenario.incidents:
        kind = DEVICE_KIND[incident.kind]
        if kind is not None and not is_declared(kind):
            warn(not_declared_message(kind, f"incident {incident.kind}"))
            continue
        at_s = _start_s(incident, start_at, timezone)
        if incident.kind == IncidentKind.STORM:
            staged += _storm(rng, devices, incident, at_s)
            continue
        if incident.device_id is None:
            device_id = _choose(rng, devices, kind, incident, at_s, staged)
        else:
            device = by_id.get(incident.device_id)
            if device is None:
                raise ScenarioError(
                    f"{incident.kind}: no device {incident.device_id!r} on the site"
                )
            if kind is not None and device.kind != kind:
                raise ScenarioError(
                    f"{incident.kind}: device {device.device_id!r} is a {device.kind} "
                    f"sensor, not a {kind} sensor"
                )
            device_id = device.device_id
        count = incident.count or DEFAULT_COUNT.get(incident.kind, 1)
        new = StagedIncident(incident.kind, device_id, at_s, incident.duration_s, count)
        if any(_overlap(new, other) for other in staged):
            raise ScenarioError(f"{incident.kind}: two incidents overlap on {device_id!r}")
        staged.append(new)
    return staged


def _start_s(incident: Incident, start_at: datetime | None, timezone: ZoneInfo | None) -> float:
    if incident.at_s is not None:
        return incident.at_s
    if start_at is None or timezone is None or incident.at_local is None:
        raise ScenarioError(f"{incident.kind}: at_local needs the start instant and timezone")
    local = start_at.astimezone(timezone)
    wanted = time.fromisoformat(incident.at_local)
    at = datetime.combine(local.date(), wanted, tzinfo=timezone)
    if at < local:
        at = datetime.combine(local.date() + timedelta(days=1), wanted, tzinfo=timezone)
    return (at - start_at).total_seconds()


def _overlap(a: StagedIncident, b: StagedIncident) -> bool:
    if IncidentKind.STORM in (a.kind, b.kind) or a.device_id != b.device_id:
        return False
    return a.at_ms < b.end_ms and b.at_ms < a.end_ms


def _storm(
    rng: random.Random, devices: list[SimDevice], incident: Incident, at_s: float
) -> list[StagedIncident]:
    ids = sorted(d.device_id for d in devices)
    count = incident.count or len(ids)
    chosen = ids if count >= len(ids) else sorted(rng.sample(ids, count))
    return [
        StagedIncident(IncidentKind.STORM, i, at_s, incident.duration_s, STORM_REPORTS)
        for i in chosen
    ]


def _choose(
    rng: random.Random,
    devices: list[SimDevice],
    kind: str | None,
    incident: Incident,
    at_s: float,
    staged: list[StagedIncident],
) -> str:
    probe = StagedIncident(incident.kind, "", at_s, incident.duration_s)
    free = [
        d
        for d in devices
        if (kind is None or d.kind == kind)
        and not any(_overlap(StagedIncident(**{**probe.__dict__, "device_id": d.device_id}), o)
                    for o in staged)
    ]  # fmt: skip
    candidates = sorted(d.device_id for d in free if not d.is_gate)
    if not candidates:  # a site of gates only: a gate can be left open too
        candidates = sorted(d.device_id for d in free)
    if not candidates:
        raise ScenarioError(f"{incident.kind}: the site has no free {kind or 'device'} sensor")
    return rng.choice(candidates)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in item["loc"]) or "scenario"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)
