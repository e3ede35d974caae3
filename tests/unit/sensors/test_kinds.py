"""The kind vocabulary: each kind well declared, and the native format speaking all of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.places.site import Level, Mount, mount_for
from sensors.kinds import HEALTH_FIELDS, KINDS, PLACED_KINDS, FieldSpec, Kind
from sensors.native import NativeAdapter
from sensors.reading import Reading, Rejection, RejectReason

RECEIVED_AT = datetime(2026, 11, 25, 5, 4, 5, tzinfo=UTC)


def valid_value(spec: FieldSpec) -> Any:
    if spec.type == "bool":
        return True
    if spec.type == "str":
        return "x"
    low = spec.ge if spec.ge is not None else 0
    return int(low) if spec.type == "int" else float(low)


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_is_declared_with_meanings_and_sane_ranges(kind: Kind) -> None:
    spec = KINDS[kind]

    assert spec.kind == kind
    assert spec.meaning
    assert spec.state_field is None or spec.state_field in spec.fields
    for name, field in spec.fields.items():
        assert field.meaning, name
        if field.ge is not None and field.le is not None:
            assert field.ge < field.le, name
        assert field.max_length is None or field.type == "str", name


@pytest.mark.parametrize("kind", PLACED_KINDS)
def test_every_placed_kind_carries_the_health_fields_and_an_offline_time(kind: Kind) -> None:
    spec = KINDS[kind]

    assert set(HEALTH_FIELDS) <= set(spec.fields)
    assert spec.offline_after_s is not None
    assert 60 <= spec.offline_after_s <= 2 * 86400


def test_battery_sensors_may_stay_silent_longer_than_mains_camera_boxes() -> None:
    ebike = KINDS[Kind.EBIKE].offline_after_s
    door = KINDS[Kind.DOOR].offline_after_s
    assert ebike is not None
    assert door is not None

    assert ebike <= 15 * 60 < 86400 <= door


def test_availability_is_not_a_placed_kind() -> None:
    assert Kind.AVAILABILITY not in PLACED_KINDS
    assert KINDS[Kind.AVAILABILITY].state_field == "online"


def test_door_open_true_means_open() -> None:
    assert KINDS[Kind.DOOR].state_field == "open"
    assert "open" in KINDS[Kind.DOOR].fields["open"].meaning.lower()


@pytest.mark.parametrize("kind", PLACED_KINDS)
def test_native_format_accepts_every_placed_kind(kind: Kind) -> None:
    spec = KINDS[kind]
    fields = {n: valid_value(f) for n, f in spec.fields.items() if f.is_required}
    payload = json.dumps({"kind": kind.value, "fields": fields}).encode()

    result = NativeAdapter().adapt("gridgate/v1/dev-1/reading", payload, RECEIVED_AT)

    assert isinstance(result, Reading), result
    assert result.kind == kind


def test_native_format_applies_a_text_fields_length_limit() -> None:
    payload = {"kind": "ebike", "fields": {"detected": True, "lift_id": "L" * 65}}

    result = NativeAdapter().adapt(
        "gridgate/v1/cam-1/reading", json.dumps(payload).encode(), RECEIVED_AT
    )

    assert isinstance(result, Rejection)
    assert result.reason == RejectReason.INVALID_PAYLOAD
    assert "fields.lift_id" in result.detail


def test_a_lift_monitor_reports_trapped_passengers_as_its_state_and_is_mains_powered() -> None:
    spec = KINDS[Kind.LIFT]

    assert spec.state_field == "trapped"
    assert spec.fields["trapped"].is_required
    assert [n for n, f in spec.fields.items() if f.is_required] == ["trapped"]
    assert spec.offline_after_s is not None
    assert spec.offline_after_s <= 15 * 60
    assert spec.fields["floor"].type == "int"
    assert spec.fields["floor"].ge is not None
    assert spec.fields["floor"].ge < 0  # basements


@pytest.mark.parametrize(
    ("level", "is_allowed"),
    [("unit", True), ("building", True), ("grid", False), ("community", False)],
)
def test_a_lift_stands_in_a_building_or_a_unit_not_on_the_grounds(
    level: str, is_allowed: bool
) -> None:
    # the placement rule lives in gateway/places/site.py: checked here beside the kind it places
    assert isinstance(mount_for(Kind.LIFT, Level(level)), Mount) is is_allowed
