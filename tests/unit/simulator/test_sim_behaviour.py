"""Messages from the behaviour: deterministic, realistic and never a false alarm."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from sensors.kinds import Kind
from sensors.native import NativeAdapter  # contract test only: the simulator never imports it
from sensors.reading import Reading
from simulator.behaviour import Behaviour, Message, messages, plan
from simulator.scenario import IncidentKind, StagedIncident
from simulator.site import SimDevice, generate_site, site_from_data

# 13:00 in Shanghai: daytime
START_AT = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def devices() -> list[SimDevice]:
    return site_from_data(generate_site(seed=7)).devices


def _by_device(planned: list[Message]) -> dict[str, list[Message]]:
    out: dict[str, list[Message]] = defaultdict(list)
    for m in planned:
        out[m.device_id].append(m)
    return out


def _openings(reports: list[Message]) -> list[tuple[datetime, datetime | None]]:
    """(opened_at, closed_at) per opening: the first `open` after a close starts one."""
    out: list[tuple[datetime, datetime | None]] = []
    opened_at: datetime | None = None
    for m in reports:
        is_open = m.payload["fields"]["open"]
        if is_open and opened_at is None:
            opened_at = m.at
        elif not is_open and opened_at is not None:
            out.append((opened_at, m.at))
            opened_at = None
    if opened_at is not None:
        out.append((opened_at, None))
    return out


def test_the_same_seed_gives_the_same_messages(devices: list[SimDevice]) -> None:
    first = plan(devices, [], seed=5, start_at=START_AT, duration=HOUR)
    again = plan(devices, [], seed=5, start_at=START_AT, duration=HOUR)
    other = plan(devices, [], seed=6, start_at=START_AT, duration=HOUR)
    assert first == again
    assert first != other


def test_messages_are_in_time_order_within_the_duration(devices: list[SimDevice]) -> None:
    planned = plan(devices, [], seed=1, start_at=START_AT, duration=HOUR)
    ats = [m.at for m in planned]
    assert ats == sorted(ats)
    assert ats[0] >= START_AT
    assert ats[-1] < START_AT + HOUR


def test_event_at_is_the_aware_utc_instant_of_the_message(devices: list[SimDevice]) -> None:
    for m in plan(devices, [], seed=1, start_at=START_AT, duration=HOUR):
        event_at = datetime.fromisoformat(m.payload["event_at"])
        assert event_at.utcoffset() == timedelta(0)
        assert m.payload["event_at"].endswith("+00:00")
        assert event_at == m.at
        assert set(m.payload) == {"kind", "event_at", "fields"}


def test_every_device_reports_at_start_and_then_every_heartbeat(
    devices: list[SimDevice],
) -> None:
    by_device = _by_device(plan(devices, [], seed=2, start_at=START_AT, duration=HOUR))
    assert set(by_device) == {d.device_id for d in devices}
    for reports in by_device.values():
        assert reports[0].at - START_AT <= timedelta(seconds=5)
        gaps = [b.at - a.at for a, b in itertools.pairwise(reports)]
        assert max(gaps) <= timedelta(seconds=66)


def test_smoke_sensors_report_no_smoke_without_an_incident(devices: list[SimDevice]) -> None:
    planned = plan(devices, [], seed=2, start_at=START_AT, duration=HOUR)
    smoke = [m for m in planned if m.payload["kind"] == Kind.SMOKE]
    assert smoke
    assert all(m.payload["fields"]["smoke"] is False for m in smoke)
    battery = [m.payload["fields"]["battery"] for m in planned if "battery" in m.payload["fields"]]
    assert battery
    assert all(isinstance(b, float) and 0 <= b <= 100 for b in battery)


@pytest.mark.parametrize("max_open_s", [20.0, 4.0])
def test_ordinary_traffic_never_holds_a_door_open_past_the_limit(
    devices: list[SimDevice], max_open_s: float
) -> None:
    busy = Behaviour(rate_scale=40, max_ordinary_open_s=max_open_s)
    planned = plan(devices, [], seed=9, start_at=START_AT, duration=6 * HOUR, behaviour=busy)
    doors = {d.device_id for d in devices if d.kind == Kind.DOOR}
    lengths = [
        closed_at - opened_at
        for device_id, reports in _by_device(planned).items()
        if device_id in doors
        for opened_at, closed_at in _openings(reports)
        if closed_at is not None
    ]
    assert len(lengths) > 1000  # busy enough for merged arrivals to happen
    assert max(lengths) <= timedelta(seconds=max_open_s)


def test_residents_come_and_go_less_at_night(devices: list[SimDevice]) -> None:
    door = [d for d in devices if d.device_id == "door-b1-u1"]
    noon_at = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
    midnight_at = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)  # 00:00 in Shanghai
    busy = Behaviour(rate_scale=10)

    def openings(start_at: datetime) -> int:
        planned = plan(door, [], seed=4, start_at=start_at, duration=4 * HOUR, behaviour=busy)
        return len(_openings(planned))

    assert openings(midnight_at) * 3 < openings(noon_at)


def test_a_door_left_open_stays_open_with_repeated_reports_then_closes(
    devices: list[SimDevice],
) -> None:
    incident = StagedIncident(IncidentKind.DOOR_LEFT_OPEN, "door-b2-u1", 20, 240)
    busy = Behaviour(rate_scale=40)
    planned = plan(devices, [incident], seed=3, start_at=START_AT, duration=HOUR, behaviour=busy)
    reports = _by_device(planned)["door-b2-u1"]
    opened_at = START_AT + timedelta(seconds=20)
    closed_at = START_AT + timedelta(seconds=260)
    assert (opened_at, closed_at) in _openings(reports)
    inside = [m for m in reports if opened_at <= m.at < closed_at]
    assert len(inside) >= 4  # the opening and at least three re-reports
    assert all(m.payload["fields"]["open"] is True for m in inside)
    assert next(m for m in reports if m.at == closed_at).payload["fields"]["open"] is False


def test_an_incident_leaves_other_devices_unchanged(devices: list[SimDevice]) -> None:
    incident = StagedIncident(IncidentKind.DOOR_LEFT_OPEN, "door-b2-u1", 20, 240)
    quiet = plan(devices, [], seed=3, start_at=START_AT, duration=HOUR)
    staged = plan(devices, [incident], seed=3, start_at=START_AT, duration=HOUR)
    assert [m for m in quiet if m.device_id != "door-b2-u1"] == [
        m for m in staged if m.device_id != "door-b2-u1"
    ]


def test_a_smoke_incident_reports_smoke_then_clears(devices: list[SimDevice]) -> None:
    incident = StagedIncident(IncidentKind.SMOKE, "smoke-b1-u1", 100, 90)
    planned = plan(devices, [incident], seed=3, start_at=START_AT, duration=HOUR)
    reports = _by_device(planned)["smoke-b1-u1"]
    smoky = [m.at for m in reports if m.payload["fields"]["smoke"]]
    assert smoky[0] == START_AT + timedelta(seconds=100)
    assert smoky[-1] < START_AT + timedelta(seconds=190)
    cleared = next(m for m in reports if m.at == START_AT + timedelta(seconds=190))
    assert cleared.payload["fields"]["smoke"] is False


def test_without_a_duration_the_messages_never_run_out(devices: list[SimDevice]) -> None:
    endless = messages(devices, [], seed=1, start_at=START_AT, duration=None)
    for _ in range(5000):
        last = next(endless)
    assert last.at - START_AT > timedelta(hours=1)


def test_a_naive_start_is_refused(devices: list[SimDevice]) -> None:
    with pytest.raises(ValueError, match="aware"):
        plan(devices, [], seed=1, start_at=datetime(2026, 1, 1), duration=HOUR)  # noqa: DTZ001  # the case under test


def test_the_native_adapter_accepts_every_planned_reading(devices: list[SimDevice]) -> None:
    """Contract with sensors.native; the simulator itself never imports the adapter."""
    adapter = NativeAdapter(topic_root="gridgate")
    incidents = [
        StagedIncident(IncidentKind.DOOR_LEFT_OPEN, "door-b1-u1", 10, 100),
        StagedIncident(IncidentKind.SMOKE, "smoke-b2-u1", 30, 60),
    ]
    planned = plan(devices, incidents, seed=1, start_at=START_AT, duration=HOUR)
    for m in planned:
        topic = f"gridgate/v1/{m.device_id}/reading"
        result = adapter.adapt(topic, json.dumps(m.payload).encode(), m.at)
        assert isinstance(result, Reading), (m, result)
