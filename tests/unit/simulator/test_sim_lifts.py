"""Lifts in the simulator: where they stand, what a trapped or stopped car sends, the
ground truth, and that truth and the shipped lift rules agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules.model import DEFAULT_RULES, RuleFile, load_rules
from rules.replay import replay
from sensors.kinds import KINDS, Kind
from sensors.reading import Reading
from simulator.behaviour import Message, plan
from simulator.errors import ScenarioError
from simulator.formats import Encoder, Format
from simulator.scenario import Incident, IncidentKind, Scenario, StagedIncident, stage
from simulator.site import Layout, generate, site_from_data
from simulator.truth import Holds, expected_alerts

SHANGHAI = ZoneInfo("Asia/Shanghai")
START_AT = datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI).astimezone(UTC)
SITE = site_from_data(generate(7, Layout(buildings=2, lifts=True)))
LIFTS = [d for d in SITE.devices if d.kind == "lift"]
HOLDS = Holds()


def run(
    kind: IncidentKind, at_s: float, duration_s: float, hours: float = 1.0
) -> tuple[list[Message], list[tuple[str, str, timedelta]]]:
    incident = StagedIncident(kind, "lift-b1", at_s, duration_s)
    end_at = START_AT + timedelta(hours=hours)
    messages = plan(SITE.devices, [incident], seed=3, start_at=START_AT, duration=end_at - START_AT)
    truth = expected_alerts([incident], START_AT, HOLDS, end_at)
    return messages, [(a.rule, a.device_id, a.due_at - START_AT) for a in truth]


def lift_messages(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m.device_id == "lift-b1" and m.topic == "reading"]


def test_a_site_with_lifts_has_a_lift_monitor_in_every_building() -> None:
    assert [d.device_id for d in LIFTS] == ["lift-b1", "lift-b2"]
    assert {d.level for d in LIFTS} == {"building"}
    plain = site_from_data(generate(7, Layout(buildings=2)))
    assert not [d for d in plain.devices if d.kind == "lift"]  # only when asked for


def test_a_lift_monitor_reports_the_whole_car_state_every_time() -> None:
    messages, _ = run(IncidentKind.LIFT_STOPPED, 600, 60)
    declared = set(KINDS[Kind.LIFT].fields)

    for message in lift_messages(messages):
        fields = message.payload["fields"]
        assert {"trapped", "moving", "at_floor", "door_open", "in_service", "floor"} <= set(fields)
        assert set(fields) <= declared


def test_trapped_passengers_are_due_at_once_and_the_stopped_car_30_s_later() -> None:
    messages, truth = run(IncidentKind.LIFT_TRAPPED, 600, 900)

    reports = [(m.at - START_AT, m.payload["fields"]) for m in lift_messages(messages)]
    trapped = [at for at, f in reports if f["trapped"]]
    assert trapped[0] == timedelta(seconds=600)
    assert trapped[-1] < timedelta(seconds=1500)
    assert all(not f["at_floor"] for at, f in reports if f["trapped"])
    freed = [f for at, f in reports if at >= timedelta(seconds=1500)]
    assert freed[0]["at_floor"] is True
    assert freed[0]["trapped"] is False
    assert truth == [
        ("lift_trapped", "lift-b1", timedelta(seconds=600)),
        ("lift_stopped_between_floors", "lift-b1", timedelta(seconds=630)),
    ]


def test_a_car_levelled_within_the_hold_is_no_alert() -> None:
    _, truth = run(IncidentKind.LIFT_STOPPED, 600, 20)

    assert truth == []


@pytest.mark.parametrize(
    ("kind", "at_s", "duration_s"),
    [
        (IncidentKind.LIFT_TRAPPED, 600, 900),
        (IncidentKind.LIFT_STOPPED, 300, 120),
        (IncidentKind.LIFT_STOPPED, 300, 20),
        (IncidentKind.LIFT_TRAPPED, 3590, 900),  # still trapped when the run ends
    ],
)
def test_the_truth_is_what_the_shipped_lift_rules_raise(
    kind: IncidentKind, at_s: float, duration_s: float
) -> None:
    messages, truth = run(kind, at_s, duration_s)
    readings = [
        Reading("lift-b1", Kind.LIFT, m.payload["fields"], m.at, m.at)
        for m in lift_messages(messages)
    ]
    lift_rules = RuleFile(rules=[r for r in load_rules(DEFAULT_RULES).rules if r.kind == Kind.LIFT])
    # what holds when the run stops holds on: the truth counts alerts due after its end
    after_end = START_AT + timedelta(hours=1, minutes=5)

    events = replay(lift_rules, readings, None, SHANGHAI, until=after_end)

    raised = [
        (e.rule_id, e.device_id, (e.due_at or e.at) - START_AT)
        for e in events
        if e.type.value == "raised"
    ]
    assert sorted(raised) == sorted(truth)


def test_a_lift_incident_needs_a_lift() -> None:
    door = next(d for d in SITE.devices if d.kind == "door")
    on_a_door = Scenario(
        incidents=[
            Incident(kind=IncidentKind.LIFT_TRAPPED, device_id=door.device_id, at_s=1, duration_s=5)
        ]
    )
    no_lifts = site_from_data(generate(7, Layout(buildings=2)))
    any_lift = Scenario(incidents=[Incident(kind=IncidentKind.LIFT_STOPPED, at_s=1, duration_s=5)])

    with pytest.raises(ScenarioError, match="not a lift sensor"):
        stage(on_a_door, SITE.devices, seed=1)
    with pytest.raises(ScenarioError, match="no free lift sensor"):
        stage(any_lift, no_lifts.devices, seed=1)
    assert stage(any_lift, SITE.devices, seed=1)[0].device_id in {"lift-b1", "lift-b2"}


def test_beside_zigbee2mqtt_a_lift_speaks_the_lift_json() -> None:
    messages, _ = run(IncidentKind.LIFT_TRAPPED, 600, 900)
    trapped = next(m for m in lift_messages(messages) if m.payload["fields"]["trapped"])
    encoder = Encoder(Format.ZIGBEE2MQTT, "zigbee2mqtt", frozenset({"lift-b1"}))

    topic, payload = encoder.wire(trapped)

    assert topic == "lift/lift-b1/status"
    assert isinstance(payload, dict)
    assert payload["alarm"]["trapped"] is True
    assert payload["car"]["leveled"] is False
    assert payload["car"]["floor"] == trapped.payload["fields"]["floor"]
    assert datetime.fromisoformat(payload["time"]) == trapped.at
    assert encoder.availability("lift-b1", False) == ("lift/lift-b1/online", "offline")
    assert encoder.availability("door-b1-u1", False)[0] == "zigbee2mqtt/door-b1-u1/availability"
