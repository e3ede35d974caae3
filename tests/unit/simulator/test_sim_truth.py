"""Ground truth: when gridgate should raise door_left_open and smoke_detected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from simulator.night import NightWindow
from simulator.scenario import IncidentKind, StagedIncident
from simulator.truth import Holds, door_due_at, expected_alerts, truth_jsonl

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOLDS = Holds(day_hold_s=180, night_hold_s=30, night=NightWindow(SHANGHAI))


def _local(text: str) -> datetime:
    """A Shanghai wall-clock time on 2026-11-25 (or the next day) as aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


@pytest.mark.parametrize(
    ("opened", "due"),
    [
        ("2026-11-25T10:00:00", "2026-11-25T10:03:00"),  # day hold
        ("2026-11-25T23:00:00", "2026-11-25T23:00:30"),  # night hold
        ("2026-11-25T21:59:00", "2026-11-25T22:00:00"),  # night starts: 60 s >= 30 s already
        ("2026-11-25T21:59:50", "2026-11-25T22:00:20"),  # night starts, 30 s not yet reached
        ("2026-11-25T21:56:00", "2026-11-25T21:59:00"),  # the day hold ends first
        ("2026-11-26T05:59:50", "2026-11-26T06:02:50"),  # day starts before 30 s: day hold
        ("2026-11-26T05:59:00", "2026-11-26T05:59:30"),  # night hold ends before the day
    ],
)
def test_door_due_at_follows_the_hold_in_force(opened: str, due: str) -> None:
    assert door_due_at(_local(opened), HOLDS) == _local(due)


def test_due_times_are_aware_utc() -> None:
    due_at = door_due_at(_local("2026-11-25T10:00:00"), HOLDS)
    assert due_at.utcoffset() == timedelta(0)


START_AT = _local("2026-11-25T10:00:00")


def _door(at_s: float, duration_s: float) -> StagedIncident:
    return StagedIncident(IncidentKind.DOOR_LEFT_OPEN, "door-b1-u1", at_s, duration_s)


def test_a_door_closed_before_the_hold_raises_nothing() -> None:
    assert expected_alerts([_door(20, 179)], START_AT, HOLDS) == []
    [alert] = expected_alerts([_door(20, 181)], START_AT, HOLDS)
    assert (alert.rule, alert.device_id) == ("door_left_open", "door-b1-u1")
    assert alert.due_at == START_AT + timedelta(seconds=200)


def test_a_door_still_open_when_the_run_stops_is_still_due() -> None:
    end_at = START_AT + timedelta(seconds=60)
    [alert] = expected_alerts([_door(20, 600)], START_AT, HOLDS, end_at=end_at)
    assert alert.due_at == START_AT + timedelta(seconds=200)
    assert expected_alerts([_door(61, 600)], START_AT, HOLDS, end_at=end_at) == []


def test_smoke_is_due_when_the_sensor_reports_it() -> None:
    smoke = StagedIncident(IncidentKind.SMOKE, "smoke-b1-u1", 5.5, 10)
    [alert] = expected_alerts([smoke, _door(1, 300)], START_AT, HOLDS)[:1]
    assert alert.rule == "smoke_detected"
    assert alert.due_at == START_AT + timedelta(seconds=5.5)


def test_truth_lines_are_json_with_iso_utc_due_times() -> None:
    text = truth_jsonl(expected_alerts([_door(0, 200)], START_AT, HOLDS))
    assert text == (
        '{"rule": "door_left_open", "device_id": "door-b1-u1", '
        '"due_at": "2026-11-25T02:03:00+00:00"}\n'
    )
