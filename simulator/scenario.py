"""Scenarios: the incidents to stage on top of ordinary traffic.

A scenario file is YAML:

    incidents:
      - {kind: door_left_open, at_s: 20, duration_s: 240}              # a seeded unit door
      - {kind: door_left_open, device_id: door-b2-u1, at_s: 600, duration_s: 45}
      - {kind: smoke, at_s: 300, duration_s: 90}                        # a seeded smoke sensor

On the command line the same incident reads `door_left_open@20:240` or
`smoke@300:90:smoke-b1-u1` (KIND@AT_S:DURATION_S[:DEVICE_ID]).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sensors.kinds import Kind
from simulator.errors import ScenarioError
from simulator.site import SimDevice


class IncidentKind(StrEnum):
    DOOR_LEFT_OPEN = "door_left_open"
    SMOKE = "smoke"


_DEVICE_KIND = {IncidentKind.DOOR_LEFT_OPEN: Kind.DOOR, IncidentKind.SMOKE: Kind.SMOKE}


class Incident(BaseModel):
    """One incident; without `device_id` the seed chooses the device."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: IncidentKind
    device_id: str | None = None
    at_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    incidents: list[Incident] = []


DEFAULT_SCENARIO = Scenario(
    incidents=[Incident(kind=IncidentKind.DOOR_LEFT_OPEN, at_s=20, duration_s=240)]
)


@dataclass(frozen=True)
class StagedIncident:
    """An incident bound to one device of the site."""

    kind: IncidentKind
    device_id: str
    at_s: float
    duration_s: float

    # Simulated time runs in whole milliseconds from the start instant.
    @property
    def at_ms(self) -> int:
        return round(self.at_s * 1000)

    @property
    def end_ms(self) -> int:
        return self.at_ms + round(self.duration_s * 1000)


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


def stage(scenario: Scenario, devices: list[SimDevice], seed: int) -> list[StagedIncident]:
    """Bind each incident to a device; reject unknown devices, wrong kinds and overlaps."""
    rng = random.Random(f"incidents/{seed}")
    by_id = {d.device_id: d for d in devices}
    staged: list[StagedIncident] = []
    for incident in scenario.incidents:
        kind = _DEVICE_KIND[incident.kind]
        if incident.device_id is None:
            device_id = _choose(rng, devices, kind, incident.kind)
        else:
            device = by_id.get(incident.device_id)
            if device is None:
                raise ScenarioError(
                    f"{incident.kind}: no device {incident.device_id!r} on the site"
                )
            if device.kind != kind:
                raise ScenarioError(
                    f"{incident.kind}: device {device.device_id!r} is a {device.kind.value} "
                    f"sensor, not a {kind.value} sensor"
                )
            device_id = device.device_id
        new = StagedIncident(incident.kind, device_id, incident.at_s, incident.duration_s)
        for other in staged:
            if (
                other.device_id == device_id
                and new.at_ms < other.end_ms
                and other.at_ms < new.end_ms
            ):
                raise ScenarioError(f"{incident.kind}: two incidents overlap on {device_id!r}")
        staged.append(new)
    return staged


def _choose(
    rng: random.Random, devices: list[SimDevice], kind: Kind, incident: IncidentKind
) -> str:
    candidates = sorted(d.device_id for d in devices if d.kind == kind and not d.is_gate)
    if not candidates:  # a site of gates only: a gate can be left open too
        candidates = sorted(d.device_id for d in devices if d.kind == kind)
    if not candidates:
        raise ScenarioError(f"{incident}: the site has no {kind.value} sensor")
    return rng.choice(candidates)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in item["loc"]) or "scenario"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)
