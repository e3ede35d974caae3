"""The vendor formats beyond their samples: one device across several topics, devices
nested in a bridge's report, and polarity turned round by a site adapter."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sensors.adapt import AdapterSet
from sensors.kinds import Kind
from sensors.reading import Reading, Rejection, RejectReason

ADAPTERS = AdapterSet.load()
RECEIVED_AT = datetime(2026, 11, 25, 5, 4, 5, tzinfo=UTC)


def send(
    topic: str, payload: Any, kind: Kind | None = Kind.DOOR, adapters: AdapterSet = ADAPTERS
) -> Reading | Rejection:
    raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    return adapters.adapt(topic, raw, RECEIVED_AT, lambda _: kind)


def readings(*messages: tuple[str, Any]) -> list[Reading]:
    results = [send(topic, payload) for topic, payload in messages]
    assert all(isinstance(r, Reading) for r in results), results
    return [r for r in results if isinstance(r, Reading)]


@pytest.mark.parametrize(
    ("adapter", "messages"),
    [
        (
            "esphome",
            [
                ("esphome/door-b4-u1/binary_sensor/door/state", "ON"),
                ("esphome/door-b4-u1/sensor/battery/state", "77"),
                ("esphome/door-b4-u1/binary_sensor/tamper/state", "OFF"),
                ("esphome/door-b4-u1/status", "offline"),
            ],
        ),
        (
            "shelly_gen1",
            [
                ("shellies/door-b4-u1/sensor/state", "open"),
                ("shellies/door-b4-u1/sensor/battery", "77"),
            ],
        ),
    ],
)
def test_one_device_split_over_topics_is_one_device_of_one_kind(
    adapter: str, messages: list[tuple[str, Any]]
) -> None:
    got = readings(*messages)

    assert {ADAPTERS.name_for(topic) for topic, _ in messages} == {adapter}
    assert {r.device_id for r in got} == {"door-b4-u1"}
    assert {r.kind for r in got} <= {Kind.DOOR, Kind.AVAILABILITY}
    merged: dict[str, Any] = {}
    for r in got:
        if r.kind == Kind.DOOR:
            assert not set(r.fields) & set(merged), "each topic carries its own field"
            merged.update(r.fields)
    assert merged["open"] is True
    assert merged["battery"] == 77


def test_a_shelly_dw2s_tilt_and_lux_are_counted_as_ignored_not_read_as_the_door() -> None:
    for topic in ("shellies/door-b4-u1/sensor/tilt", "shellies/door-b4-u1/sensor/lux"):
        result = send(topic, "15")

        assert isinstance(result, Rejection)
        assert (result.reason, result.device_id) == (RejectReason.IGNORED_TOPIC, "door-b4-u1")


def test_a_tasmota_bridge_report_is_about_the_device_nested_in_it_not_the_bridge() -> None:
    payload = {"ZbReceived": {"0x662E": {"Device": "0x662E", "Name": "door-b3-u1", "Contact": 1}}}

    result = send("tele/zbbridge-b3/SENSOR", payload)

    assert isinstance(result, Reading)
    assert (result.device_id, result.fields) == ("door-b3-u1", {"open": True})


def test_a_tasmota_device_registered_as_another_kind_reads_that_kinds_fields() -> None:
    payload = {"ZbReceived": {"0x099F": {"Name": "leak-b3", "Water": 1, "Contact": 1}}}

    result = send("tele/zbbridge-b3/SENSOR", payload, kind=Kind.WATER_LEAK)

    assert isinstance(result, Reading)
    assert result.fields == {"leak": True}  # Contact is not a water_leak field


def test_shelly_blu_window_components_of_two_relays_are_two_devices() -> None:
    def status(relay: str) -> Reading | Rejection:
        payload = {
            "method": "NotifyStatus",
            "params": {"ts": 1795582981.0, "bthomesensor:201": {"value": True}},
        }
        return send(f"shelly/{relay}/events/rpc", payload)

    first, second = status("gw-b3"), status("gw-b4")

    assert isinstance(first, Reading)
    assert isinstance(second, Reading)
    assert (first.device_id, second.device_id) == (
        "gw-b3.bthomesensor:201",
        "gw-b4.bthomesensor:201",
    )


NORMALLY_CLOSED = """\
name: tasmota_switch_nc
extends: tasmota_switch
description: normally-closed reed switches on Tasmota, topic stat-nc/<topic>/RESULT
topics:
  - pattern: stat-nc/{device_id}/RESULT
kinds: {door: {open: {from: Switch1.Action, map: {"ON": true, "OFF": false}}}}
"""


def test_a_site_adapter_extending_the_tasmota_switch_turns_its_polarity_round(
    tmp_path: Path,
) -> None:
    (tmp_path / "tasmota_switch_nc.yaml").write_text(NORMALLY_CLOSED, encoding="utf-8")
    adapters = AdapterSet.load(extra_dirs=[tmp_path])
    on = {"Switch1": {"Action": "ON"}}

    normally_open = send("stat/door-1/RESULT", on, adapters=adapters)
    normally_closed = send("stat-nc/door-2/RESULT", on, adapters=adapters)
    command_answer = send("stat-nc/door-2/RESULT", {"POWER": "ON"}, adapters=adapters)

    assert isinstance(normally_open, Reading)
    assert isinstance(normally_closed, Reading)
    assert normally_open.fields == {"open": False}
    assert normally_closed.fields == {"open": True}
    assert isinstance(command_answer, Rejection)  # only_when is inherited
    assert command_answer.reason == RejectReason.IGNORED_MESSAGE
