"""Incidents from the command line and from YAML, bound to the site's devices."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.errors import ScenarioError
from simulator.scenario import (
    Incident,
    IncidentKind,
    Scenario,
    load_scenario,
    parse_incident,
    stage,
)
from simulator.site import SimDevice, generate_site, site_from_data


@pytest.fixture
def devices() -> list[SimDevice]:
    return site_from_data(generate_site(seed=7)).devices


def test_parse_incident_reads_kind_times_and_device() -> None:
    incident = parse_incident("door_left_open@20:240:door-b1-u1")
    assert incident == Incident(
        kind=IncidentKind.DOOR_LEFT_OPEN, at_s=20, duration_s=240, device_id="door-b1-u1"
    )
    assert parse_incident("smoke@1.5:90").device_id is None
    assert parse_incident("smoke@0:5:vendor:abc").device_id == "vendor:abc"


@pytest.mark.parametrize(
    "text", ["door_left_open", "door_left_open@20", "fire@1:2", "smoke@-1:5", "smoke@1:0"]
)
def test_parse_incident_refuses_bad_text(text: str) -> None:
    with pytest.raises(ScenarioError, match="incident"):
        parse_incident(text)


def test_load_scenario_reads_yaml_and_names_the_file_on_error(tmp_path: Path) -> None:
    good = tmp_path / "scenario.yaml"
    good.write_text(
        "incidents:\n  - {kind: smoke, at_s: 5, duration_s: 10}\n"
        "  - {kind: door_left_open, device_id: door-b1-u1, at_s: 20, duration_s: 40}\n",
        encoding="utf-8",
    )
    assert [i.kind for i in load_scenario(good).incidents] == ["smoke", "door_left_open"]
    bad = tmp_path / "scenario.unknown-field.yaml"
    bad.write_text("incidents:\n  - {kind: smoke, at_s: 5, duration_s: 10, colour: red}\n")
    with pytest.raises(ScenarioError, match=r"scenario\.unknown-field\.yaml: incidents\.0\.colour"):
        load_scenario(bad)


def test_a_seeded_incident_picks_a_unit_door_the_same_way_every_time(
    devices: list[SimDevice],
) -> None:
    scenario = Scenario(incidents=[Incident(kind="door_left_open", at_s=1, duration_s=2)])
    first = stage(scenario, devices, seed=11)
    assert first == stage(scenario, devices, seed=11)
    assert first[0].device_id.startswith("door-")
    chosen = {stage(scenario, devices, seed=s)[0].device_id for s in range(30)}
    assert len(chosen) > 1


@pytest.mark.parametrize(
    ("incidents", "reason"),
    [
        ([Incident(kind="smoke", device_id="nope", at_s=0, duration_s=1)], "no device 'nope'"),
        ([Incident(kind="smoke", device_id="door-b1-u1", at_s=0, duration_s=1)], "not a smoke"),
        (
            [
                Incident(kind="door_left_open", device_id="door-b1-u1", at_s=0, duration_s=10),
                Incident(kind="door_left_open", device_id="door-b1-u1", at_s=5, duration_s=10),
            ],
            "overlap",
        ),
    ],
)
def test_stage_refuses_what_cannot_be_played(
    devices: list[SimDevice], incidents: list[Incident], reason: str
) -> None:
    with pytest.raises(ScenarioError, match=reason):
        stage(Scenario(incidents=incidents), devices, seed=1)
