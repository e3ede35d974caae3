"""Each incident kind: what the sensor sends, and the alert the truth says must follow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from simulator.behaviour import Behaviour, Message, plan
from simulator.daily import DailyCurve
from simulator.scenario import Incident, IncidentKind, Scenario, StagedIncident, stage
from simulator.site import SimDevice, generate_site, site_from_data
from simulator.truth import Holds, expected_alerts

SHANGHAI = ZoneInfo("Asia/Shanghai")
START_AT = datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI).astimezone(UTC)  # 09:00 local
HOLDS = Holds()
DEVICES = [
    SimDevice("door-1", "door", "单元门", "unit", ("c", "u")),
    SimDevice("gas-1", "gas", None, "unit", ("c", "u")),
    SimDevice("leak-1", "water_leak", None, "unit", ("c", "u")),
    SimDevice("level-1", "water_level", None, "building", ("c", "b")),
    SimDevice("smoke-1", "smoke", None, "unit", ("c", "u")),
]


def _run(incident: StagedIncident, hours: float = 1.0) -> tuple[list[Message], list[tuple]]:
    end_at = START_AT + timedelta(hours=hours)
    messages = plan(DEVICES, [incident], seed=1, start_at=START_AT, duration=end_at - START_AT)
    truth = expected_alerts([incident], START_AT, HOLDS, end_at)
    return messages, [(a.rule, a.device_id, a.due_at - START_AT) for a in truth]


def _of(messages: list[Message], device_id: str) -> list[Message]:
    return [m for m in messages if m.device_id == device_id]


@pytest.mark.parametrize(
    ("kind", "device", "field", "rule"),
    [
        (IncidentKind.SMOKE, "smoke-1", "smoke", "smoke_detected"),
        (IncidentKind.GAS, "gas-1", "gas", "gas_detected"),
        (IncidentKind.WATER_LEAK, "leak-1", "leak", "water_leak"),
    ],
)
def test_an_alarm_is_due_when_the_sensor_first_reports_it(
    kind: IncidentKind, device: str, field: str, rule: str
) -> None:
    messages, truth = _run(StagedIncident(kind, device, 100, 60))
    on = [m.at - START_AT for m in _of(messages, device) if m.payload["fields"][field] is True]
    assert on[0] == timedelta(seconds=100)
    assert on[-1] < timedelta(seconds=160)
    assert truth == [(rule, device, timedelta(seconds=100))]


def test_a_door_forced_in_the_quiet_hours_is_due_at_the_opening() -> None:
    at_s = 17.5 * 3600  # 02:30 local the next night
    messages, truth = _run(StagedIncident(IncidentKind.DOOR_FORCED, "door-1", at_s, 6), 20)
    assert truth == [("door_forced_at_night", "door-1", timedelta(seconds=at_s))]
    quiet = [
        m for m in _of(messages, "door-1")
        if timedelta(hours=16) <= m.at - START_AT < timedelta(hours=19)
        and m.payload["fields"]["open"]
    ]  # fmt: skip
    assert [m.at - START_AT for m in quiet] == [timedelta(seconds=at_s)]  # nobody else opens


def test_no_resident_opens_a_door_in_the_quiet_hours() -> None:
    curve = DailyCurve(SHANGHAI)
    assert curve.factor(datetime(2026, 11, 26, 2, 0, tzinfo=SHANGHAI)) == 0
    assert curve.factor(datetime(2026, 11, 26, 8, 0, tzinfo=SHANGHAI)) > 2 * curve.factor(
        datetime(2026, 11, 26, 14, 0, tzinfo=SHANGHAI)
    )


def test_a_flapping_door_is_due_at_the_31st_opening_within_ten_minutes() -> None:
    # the shipped rule: opened more than 30 times in 10 minutes
    messages, truth = _run(StagedIncident(IncidentKind.DOOR_FLAPPING, "door-1", 60, 120, 35))
    opens = [m.at for m in _of(messages, "door-1") if m.payload["fields"]["open"]]
    began_at, ended_at = START_AT + timedelta(seconds=60), START_AT + timedelta(seconds=180)
    flap = [o for o in opens if began_at <= o < ended_at]
    assert len(flap) == 35
    assert truth == [("door_flapping", "door-1", flap[30] - START_AT)]


def test_a_rising_flood_is_due_a_minute_after_the_first_level_over_the_threshold() -> None:
    messages, truth = _run(StagedIncident(IncidentKind.FLOOD, "level-1", 60, 1200))
    levels = [(m.at, m.payload["fields"]["level_cm"]) for m in _of(messages, "level-1")]
    first = next(at for at, cm in levels if cm >= 30)
    assert truth == [("flood_level", "level-1", first - START_AT + timedelta(seconds=60))]
    rising = [cm for at, cm in levels if START_AT + timedelta(seconds=60) <= at < first]
    assert rising == sorted(rising)
    assert levels[-1][1] == 0.0  # pumped out at the end


def test_an_offline_device_goes_silent_then_comes_back() -> None:
    messages, truth = _run(StagedIncident(IncidentKind.OFFLINE, "smoke-1", 120, 600))
    own = _of(messages, "smoke-1")
    availability = [(m.at - START_AT, m.payload) for m in own if m.topic == "availability"]
    assert availability == [
        (timedelta(seconds=120), {"online": False}),
        (timedelta(seconds=720), {"online": True}),
    ]
    silent = [
        m for m in own if m.topic == "reading" and 120 <= (m.at - START_AT).total_seconds() < 720
    ]
    assert silent == []
    assert truth == [("device_offline", "smoke-1", timedelta(seconds=120))]


def test_a_draining_battery_is_due_at_the_first_report_below_15() -> None:
    messages, truth = _run(StagedIncident(IncidentKind.BATTERY_DRAIN, "door-1", 60, 1200))
    battery = [
        (m.at, m.payload["fields"]["battery"])
        for m in _of(messages, "door-1")
        if "battery" in m.payload["fields"] and m.at >= START_AT + timedelta(seconds=60)
    ]
    first = next(at for at, pct in battery if pct < 15)
    assert truth == [("battery_low", "door-1", first - START_AT)]
    assert battery[-1][1] < 15  # it stays low


def test_an_inactive_elderly_resident_is_due_a_day_after_the_last_opening() -> None:
    incident = StagedIncident(IncidentKind.ELDERLY_INACTIVE, "door-1", 600, 25 * 3600)
    messages, truth = _run(incident, 26)
    assert truth == [("elderly_inactivity", "door-1", timedelta(seconds=600, days=1))]
    opens = [m.at - START_AT for m in _of(messages, "door-1") if m.payload["fields"]["open"]]
    assert timedelta(seconds=600) in opens
    # the door is open 5 s at 600 s (heartbeats may re-report that), then never for 25 h
    quiet = [o for o in opens if timedelta(seconds=605) <= o < timedelta(seconds=600, hours=25)]
    assert quiet == []
    assert any(o > timedelta(seconds=600, hours=25) for o in opens)  # life goes on after


def test_a_storm_makes_many_devices_report_at_once_and_raises_nothing() -> None:
    devices = site_from_data(generate_site(seed=7)).devices
    staged = stage(
        Scenario(incidents=[Incident(kind="storm", at_s=30, duration_s=5)]), devices, seed=1
    )
    assert len(staged) == len(devices)
    quiet = Behaviour(rate_scale=0)
    calm = plan(
        devices, [], seed=1, start_at=START_AT, duration=timedelta(minutes=2), behaviour=quiet
    )
    storm = plan(
        devices, staged, seed=1, start_at=START_AT, duration=timedelta(minutes=2), behaviour=quiet
    )
    in_window = [m for m in storm if 30 <= (m.at - START_AT).total_seconds() < 35]
    assert len(in_window) >= 3 * len(devices)
    assert len(storm) - len(calm) == 3 * len(devices)
    assert expected_alerts(staged, START_AT, HOLDS) == []


def test_at_local_starts_an_incident_at_the_next_wall_clock_time() -> None:
    scenario = Scenario(incidents=[Incident(kind="door_forced", at_local="02:30", duration_s=5)])
    [staged] = stage(scenario, DEVICES, seed=1, start_at=START_AT, timezone=SHANGHAI)
    assert staged.at_s == 17.5 * 3600


def test_the_plan_with_every_incident_is_the_same_for_the_same_seed() -> None:
    incidents = [
        StagedIncident(IncidentKind.DOOR_FLAPPING, "door-1", 10, 30, 12),
        StagedIncident(IncidentKind.FLOOD, "level-1", 10, 300),
        StagedIncident(IncidentKind.OFFLINE, "gas-1", 50, 100),
        StagedIncident(IncidentKind.BATTERY_DRAIN, "smoke-1", 5, 300),
    ]
    hour = timedelta(hours=1)
    first = plan(DEVICES, incidents, seed=4, start_at=START_AT, duration=hour)
    assert first == plan(DEVICES, incidents, seed=4, start_at=START_AT, duration=hour)
    assert first != plan(DEVICES, incidents, seed=5, start_at=START_AT, duration=hour)
