"""Ground truth: the alerts gridgate should raise for the staged incidents, and when.

door_left_open  due at the earliest instant x >= opened_at with x - opened_at >= hold(x),
                hold(x) being the night hold when x is in the night window, else the day
                hold; expected only when the door is still open at x (closed_at > x).
smoke_detected  due at the instant the sensor first reports smoke.

Written as JSON lines: {"rule": ..., "device_id": ..., "due_at": "<aware UTC ISO>"}.
The rules package is not imported on purpose: this is the independent opinion.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from simulator.night import NightWindow
from simulator.scenario import IncidentKind, StagedIncident

DOOR_LEFT_OPEN = "door_left_open"
SMOKE_DETECTED = "smoke_detected"
DAY_HOLD_S = 180.0
NIGHT_HOLD_S = 30.0


@dataclass(frozen=True)
class Holds:
    day_hold_s: float = DAY_HOLD_S
    night_hold_s: float = NIGHT_HOLD_S
    night: NightWindow = NightWindow()  # noqa: RUF009  # frozen dataclass, safe to share

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
    """The alerts the incidents should cause; an incident starting at or after `end_at`
    is never played. A door still open when the run stops stays open: its alert counts."""
    alerts = []
    for incident in incidents:
        began_at = start_at + timedelta(milliseconds=incident.at_ms)
        if end_at is not None and began_at >= end_at:
            continue
        if incident.kind == IncidentKind.SMOKE:
            alerts.append(ExpectedAlert(SMOKE_DETECTED, incident.device_id, began_at))
            continue
        due_at = door_due_at(began_at, holds)
        closed_at = start_at + timedelta(milliseconds=incident.end_ms)
        is_open_at_end = end_at is not None and closed_at >= end_at
        if is_open_at_end or due_at < closed_at:
            alerts.append(ExpectedAlert(DOOR_LEFT_OPEN, incident.device_id, due_at))
    return sorted(alerts, key=lambda a: (a.due_at, a.device_id))


def truth_jsonl(alerts: list[ExpectedAlert]) -> str:
    return "".join(json.dumps(a.to_json(), ensure_ascii=False) + "\n" for a in alerts)


def write_truth(path: Path, alerts: list[ExpectedAlert]) -> None:
    path.write_text(truth_jsonl(alerts), encoding="utf-8")
