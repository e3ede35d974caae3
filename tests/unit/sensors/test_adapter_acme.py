"""The ACME example vendor: kind from the payload, nested keys, scaling, maps, a hook."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from sensors.adapt import AdapterSet
from sensors.hooks.acme import alarm_bits
from sensors.kinds import Kind
from sensors.reading import Reading, Rejection, RejectReason

ADAPTERS = AdapterSet.load()
RECEIVED_AT = datetime(2026, 11, 25, 5, 4, 5, tzinfo=UTC)
TS_MS = 1795582985120  # 2026-11-25T05:03:05.120Z
TOPIC = "acme/gw-00a1b2c3/ds200-0042/up"


def nobody(_: str) -> Kind | None:
    return None  # the payload says the kind: the registry is not asked


def adapt(payload: Any, topic: str = TOPIC) -> Reading | Rejection:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return ADAPTERS.adapt(topic, raw, RECEIVED_AT, nobody)


def door(status: str = "open", **data: Any) -> dict[str, Any]:
    return {"ts": TS_MS, "type": "door", "data": {"status": status, **data}}


def test_status_word_maps_to_open_and_the_kind_comes_from_type() -> None:
    result = adapt(door("closed"))

    assert isinstance(result, Reading)
    assert result.kind == Kind.DOOR
    assert result.device_id == "ds200-0042"
    assert result.fields == {"open": False}


def test_unix_ms_timestamp_becomes_the_event_time() -> None:
    result = adapt(door())

    assert isinstance(result, Reading)
    assert result.event_at == datetime(2026, 11, 25, 5, 3, 5, 120_000, tzinfo=UTC)


@pytest.mark.parametrize(("millivolts", "volts"), [(3010, 3.01), (0, 0.0), (400_000, 400.0)])
def test_battery_millivolts_are_scaled_to_volts(millivolts: int, volts: float) -> None:
    result = adapt(door(bat_mv=millivolts))

    assert isinstance(result, Reading)
    assert result.fields["voltage"] == pytest.approx(volts)


def test_scaled_value_out_of_range_is_invalid_and_named() -> None:
    result = adapt(door(bat_mv=400_001))

    assert isinstance(result, Rejection)
    assert result.reason == RejectReason.INVALID_PAYLOAD
    assert "fields.voltage" in result.detail
    assert "data.bat_mv" in result.detail


def test_level_in_millimetres_becomes_centimetres() -> None:
    result = adapt({"ts": TS_MS, "type": "level", "data": {"level_mm": 1234}})

    assert isinstance(result, Reading)
    assert result.kind == Kind.WATER_LEVEL
    assert result.fields["level_cm"] == pytest.approx(123.4)


@pytest.mark.parametrize("status", ["ajar", 1, True, None, ["open"]])
def test_status_outside_the_map_is_invalid(status: Any) -> None:
    result = adapt(door(status))

    assert isinstance(result, Rejection)
    assert result.reason == RejectReason.INVALID_PAYLOAD
    assert "fields.open" in result.detail


def test_smoke_map_keeps_one_and_true_apart() -> None:
    numeric = adapt({"ts": TS_MS, "type": "smoke", "data": {"smoke": 1}})
    boolean = adapt({"ts": TS_MS, "type": "smoke", "data": {"smoke": True}})

    assert isinstance(numeric, Reading)
    assert numeric.fields["smoke"] is True
    assert isinstance(boolean, Rejection)


def test_unknown_type_is_an_unknown_kind() -> None:
    result = adapt({"ts": TS_MS, "type": "lamp", "data": {}})

    assert isinstance(result, Rejection)
    assert result.reason == RejectReason.UNKNOWN_KIND


def test_timestamp_is_required() -> None:
    result = adapt({"type": "door", "data": {"status": "open"}})

    assert isinstance(result, Rejection)
    assert result.reason == RejectReason.INVALID_PAYLOAD
    assert "ts" in result.detail


@pytest.mark.parametrize("ts", ["1795582985120", 1e300, -1e300, True])
def test_timestamp_that_is_no_instant_is_invalid(ts: Any) -> None:
    result = adapt(door() | {"ts": ts})

    assert isinstance(result, Rejection)
    assert result.reason == RejectReason.INVALID_PAYLOAD


def test_gateway_id_must_fit_its_placeholder_expression() -> None:
    result = adapt(door(), "acme/GW1/ds200-0042/up")

    assert isinstance(result, Rejection)
    assert result.reason == RejectReason.BAD_TOPIC
    assert result.adapter == "acme_json"


@pytest.mark.parametrize(("word", "is_online"), [(b"up", True), (b"1", True), (b"DOWN", False)])
def test_link_words_are_the_adapters_own(word: bytes, is_online: bool) -> None:
    result = adapt(word, "acme/gw-00a1b2c3/ds200-0042/link")

    assert isinstance(result, Reading)
    assert result.fields == {"online": is_online}


def test_hook_fields_join_the_mapped_fields() -> None:
    result = adapt(door() | {"alarm": 1})

    assert isinstance(result, Reading)
    assert result.fields == {"open": True, "tamper": True, "battery_low": False}


def test_hook_refusal_becomes_a_rejection_naming_the_hook() -> None:
    result = adapt(door() | {"alarm": 4096})

    assert isinstance(result, Rejection)
    assert result.reason == RejectReason.INVALID_PAYLOAD
    assert "sensors.hooks.acme:alarm_bits" in result.detail


@pytest.mark.parametrize(
    ("bits", "fields"),
    [
        (0, {"tamper": False, "battery_low": False}),
        (1, {"tamper": True, "battery_low": False}),
        (2, {"tamper": False, "battery_low": True}),
        (0xFF, {"tamper": True, "battery_low": True}),
    ],
)
def test_alarm_bits_hook_reads_the_bit_field(bits: int, fields: dict[str, bool]) -> None:
    assert alarm_bits({"alarm": bits}) == fields


def test_alarm_bits_hook_without_alarm_says_nothing() -> None:
    assert alarm_bits({"type": "door"}) == {}


@pytest.mark.parametrize("bits", [-1, 256, 1.5, "3", True, None])
def test_alarm_bits_hook_refuses_what_is_not_a_byte(bits: Any) -> None:
    with pytest.raises(ValueError, match="bit field"):
        alarm_bits({"alarm": bits})
