"""The native adapter: gridgate's own topics and JSON payloads into Readings or Rejections."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensors.kinds import Kind
from sensors.native import NativeAdapter
from sensors.reading import Reading, Rejection, RejectReason
from tests.unit.sensors.jsonvalues import JSON_SCALARS, JSON_VALUES

ADAPTER = NativeAdapter()
RECEIVED_AT = datetime(2026, 11, 25, 5, 4, 5, tzinfo=UTC)
TOPIC = "gridgate/v1/door-b1-u1/reading"
LIMIT = ADAPTER.max_payload_bytes
# a Rejection keeps a short sample: SAMPLE_MAX_CHARS plus a "… (N bytes)" suffix
SAMPLE_BUDGET = 600


def adapt(payload: bytes | dict[str, Any], topic: str = TOPIC) -> Reading | Rejection:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return ADAPTER.adapt(topic, raw, RECEIVED_AT)


def rejected(payload: bytes | dict[str, Any], topic: str = TOPIC) -> Rejection:
    result = adapt(payload, topic)
    assert isinstance(result, Rejection), result
    assert result.detail
    return result


def door(**fields: Any) -> dict[str, Any]:
    return {"kind": "door", "fields": {"open": True, **fields}}


# ---- valid readings -----------------------------------------------------------------


def test_door_reading_with_offset_event_at_is_normalised_to_utc() -> None:
    payload = door() | {"event_at": "2026-11-25T13:03:05+08:00"}

    result = adapt(payload)

    assert isinstance(result, Reading)
    assert result.device_id == "door-b1-u1"
    assert result.kind == Kind.DOOR
    assert result.fields == {"open": True}
    assert result.event_at == datetime(2026, 11, 25, 5, 3, 5, tzinfo=UTC)
    assert result.event_at.utcoffset() == timedelta(0)
    assert result.received_at == RECEIVED_AT


def test_reading_without_event_at_takes_the_arrival_time() -> None:
    result = adapt({"kind": "door", "fields": {"open": False}})

    assert isinstance(result, Reading)
    assert result.fields == {"open": False}
    assert result.event_at == RECEIVED_AT


def test_smoke_reading_keeps_health_fields_and_drops_absent_ones() -> None:
    payload = {"kind": "smoke", "fields": {"smoke": True, "battery": 87, "tamper": False}}

    result = adapt(payload, "gridgate/v1/smoke-b1-u1/reading")

    assert isinstance(result, Reading)
    assert result.kind == Kind.SMOKE
    assert result.device_id == "smoke-b1-u1"
    assert result.fields == {"smoke": True, "battery": 87.0, "tamper": False}


def test_event_at_just_inside_the_allowed_skew_is_accepted() -> None:
    ahead = RECEIVED_AT + ADAPTER.max_clock_skew

    result = adapt(door() | {"event_at": ahead.isoformat()})

    assert isinstance(result, Reading)
    assert result.event_at == ahead


@pytest.mark.parametrize(
    ("payload", "is_online"),
    [(b"online", True), (b"offline", False), (b" Online\n", True), (b"OFFLINE", False)],
)
def test_availability_payload_becomes_an_online_reading(payload: bytes, is_online: bool) -> None:
    result = ADAPTER.adapt("gridgate/v1/door-b1-u1/availability", payload, RECEIVED_AT)

    assert isinstance(result, Reading)
    assert result.kind == Kind.AVAILABILITY
    assert result.fields == {"online": is_online}
    assert result.event_at == RECEIVED_AT


def test_unknown_availability_word_is_rejected() -> None:
    result = rejected(b"maybe", "gridgate/v1/door-b1-u1/availability")

    assert result.reason == RejectReason.INVALID_PAYLOAD
    assert result.device_id == "door-b1-u1"


def test_custom_topic_root_is_honoured() -> None:
    adapter = NativeAdapter(topic_root="site7")

    assert isinstance(
        adapter.adapt("site7/v1/d1/reading", json.dumps(door()).encode(), RECEIVED_AT), Reading
    )
    other = adapter.adapt(TOPIC, json.dumps(door()).encode(), RECEIVED_AT)
    assert isinstance(other, Rejection)
    assert other.reason == RejectReason.BAD_TOPIC


# ---- rejections, one per reason ------------------------------------------------------


@pytest.mark.parametrize(
    "topic",
    [
        "other/v1/door-b1-u1/reading",
        "gridgate/v2/door-b1-u1/reading",
        "gridgate/v1/door-b1-u1/state",
        "gridgate/v1/door-b1-u1/reading/extra",
        "gridgate/v1/door-b1-u1",
    ],
)
def test_topic_outside_the_scheme_is_a_bad_topic(topic: str) -> None:
    result = rejected(door(), topic)

    assert result.reason == RejectReason.BAD_TOPIC
    assert result.topic == topic


@pytest.mark.parametrize("device_id", ["", "-leading-dash", "has space", "x" * 65, "门禁1"])
def test_invalid_device_id_in_topic_is_a_bad_topic(device_id: str) -> None:
    result = rejected(door(), f"gridgate/v1/{device_id}/reading")

    assert result.reason == RejectReason.BAD_TOPIC
    assert result.device_id is None
    assert "device id" in result.detail


def test_payload_over_the_limit_is_rejected_before_parsing() -> None:
    payload = b"{" + b" " * LIMIT + b"}"

    result = rejected(payload)

    assert result.reason == RejectReason.PAYLOAD_TOO_LARGE
    assert str(len(payload)) in result.detail
    assert len(result.sample) <= SAMPLE_BUDGET


def test_payload_exactly_at_the_limit_is_parsed() -> None:
    body = json.dumps(door()).encode()
    payload = body[:-1] + b" " * (LIMIT - len(body)) + b"}"
    assert len(payload) == LIMIT

    assert isinstance(adapt(payload), Reading)


@pytest.mark.parametrize("payload", [b"{", b"", b"\xff\xfe", b"{'kind': 'door'}", b"\x00"])
def test_malformed_json_is_rejected(payload: bytes) -> None:
    assert rejected(payload).reason == RejectReason.MALFORMED_JSON


@pytest.mark.parametrize("payload", [b"[1]", b"1", b'"door"', b"null", b"true"])
def test_json_that_is_not_an_object_is_invalid(payload: bytes) -> None:
    assert rejected(payload).reason == RejectReason.INVALID_PAYLOAD


def test_unknown_kind_is_rejected_naming_the_known_kinds() -> None:
    result = rejected({"kind": "lamp", "fields": {"on": True}})

    assert result.reason == RejectReason.UNKNOWN_KIND
    assert "door" in result.detail
    assert "smoke" in result.detail


def test_availability_is_not_a_reading_kind() -> None:
    result = rejected({"kind": "availability", "fields": {"online": True}})

    assert result.reason == RejectReason.UNKNOWN_KIND


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"kind": "door", "fields": {"open": 1}}, "fields.open"),
        ({"kind": "door", "fields": {"open": "true"}}, "fields.open"),
        ({"kind": "door", "fields": {"open": None}}, "fields.open"),
        (door(battery="50"), "fields.battery"),
        (door(tamper=0), "fields.tamper"),
        ({"kind": "door", "fields": {}}, "fields.open"),
    ],
)
def test_wrong_or_missing_field_is_invalid_and_named(payload: dict[str, Any], where: str) -> None:
    result = rejected(payload)

    assert result.reason == RejectReason.INVALID_PAYLOAD
    assert where in result.detail
    assert result.device_id == "door-b1-u1"


def test_missing_fields_object_is_named_in_the_detail() -> None:
    result = rejected({"kind": "door", "event_at": RECEIVED_AT.isoformat()})

    assert result.reason == RejectReason.INVALID_PAYLOAD
    assert result.detail.startswith("fields:"), result.detail


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        (door(colour="red"), "fields.colour"),
        (door() | {"firmware": "1.2"}, "firmware"),
    ],
)
def test_extra_field_is_invalid(payload: dict[str, Any], where: str) -> None:
    result = rejected(payload)

    assert result.reason == RejectReason.INVALID_PAYLOAD
    assert where in result.detail


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400"])
def test_non_finite_number_is_invalid(number: bytes) -> None:
    payload = b'{"kind": "door", "fields": {"open": true, "voltage": ' + number + b"}}"

    result = rejected(payload)

    assert result.reason == RejectReason.INVALID_PAYLOAD
    assert "fields.voltage" in result.detail


@pytest.mark.parametrize("battery", [-0.5, 100.01, 1e30])
def test_battery_out_of_range_is_invalid(battery: float) -> None:
    result = rejected(door(battery=battery))

    assert result.reason == RejectReason.INVALID_PAYLOAD
    assert "fields.battery" in result.detail


@pytest.mark.parametrize("battery", [0, 100, 42.5])
def test_battery_at_the_range_edges_is_accepted(battery: float) -> None:
    result = adapt(door(battery=battery))

    assert isinstance(result, Reading)
    assert result.fields["battery"] == battery


def test_naive_event_at_is_invalid() -> None:
    result = rejected(door() | {"event_at": "2026-11-25T13:04:05"})

    assert result.reason == RejectReason.INVALID_PAYLOAD
    assert "event_at" in result.detail


def test_event_at_too_far_ahead_of_arrival_is_rejected() -> None:
    ahead = RECEIVED_AT + ADAPTER.max_clock_skew + timedelta(microseconds=1)

    result = rejected(door() | {"event_at": ahead.isoformat()})

    assert result.reason == RejectReason.FUTURE_EVENT_TIME
    assert result.device_id == "door-b1-u1"


@pytest.mark.parametrize(
    "event_at",
    # valid ISO-8601 instants whose UTC form falls outside datetime's years 1..9999
    ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"],
)
def test_event_at_at_the_edge_of_the_calendar_is_rejected_not_raised(event_at: str) -> None:
    result = adapt(door() | {"event_at": event_at})

    assert isinstance(result, Rejection)
    assert result.detail


def test_rejection_sample_of_a_large_payload_is_short_and_says_the_size() -> None:
    payload = b'{"kind": "door", "fields": {"open": true, "note": "' + b"x" * 5000 + b'"}}'

    result = rejected(payload)

    assert len(result.sample) <= SAMPLE_BUDGET
    assert result.sample.startswith('{"kind": "door"')
    assert f"({len(payload)} bytes)" in result.sample


# ---- fuzz ----------------------------------------------------------------------------


def wall_time(year: int) -> datetime:
    """A naive bound for st.datetimes, which takes wall-clock limits."""
    return datetime(year, 1, 1, tzinfo=UTC).replace(tzinfo=None)


FIELD_NAMES = st.sampled_from(["open", "smoke", "battery", "voltage", "tamper", "rssi", "x"])
NEAR_PAYLOADS = st.fixed_dictionaries(
    {"kind": st.sampled_from(["door", "smoke", "availability", "lamp", ""]) | JSON_SCALARS},
    optional={
        "fields": st.dictionaries(FIELD_NAMES, JSON_SCALARS | JSON_VALUES, max_size=4)
        | JSON_VALUES,
        # years well inside the calendar: the edges have their own test above
        "event_at": st.datetimes(
            min_value=wall_time(1900),
            max_value=wall_time(2100),
            timezones=st.timezones(),
        ).map(datetime.isoformat)
        | st.datetimes().map(datetime.isoformat)
        | JSON_SCALARS,
        "extra": JSON_VALUES,
    },
)
TOPICS = st.sampled_from(
    [TOPIC, "gridgate/v1/smoke-1/reading", "gridgate/v1/door-1/availability"]
) | st.text(max_size=40)


def check_outcome(result: Reading | Rejection) -> None:
    assert isinstance(result, Reading | Rejection)
    if isinstance(result, Rejection):
        assert result.detail.strip()
        assert len(result.sample) <= SAMPLE_BUDGET
        assert isinstance(result.reason, RejectReason)
    else:
        assert result.event_at.utcoffset() == timedelta(0)
        assert result.event_at - result.received_at <= ADAPTER.max_clock_skew


@settings(max_examples=200, deadline=None)
@given(topic=TOPICS, payload=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(topic: str, payload: bytes) -> None:
    check_outcome(ADAPTER.adapt(topic, payload, RECEIVED_AT))


@settings(max_examples=200, deadline=None)
@given(value=JSON_VALUES)
def test_arbitrary_json_values_never_raise(value: Any) -> None:
    check_outcome(adapt(json.dumps(value).encode()))


@settings(max_examples=300, deadline=None)
@given(value=NEAR_PAYLOADS)
def test_payloads_close_to_valid_never_raise(value: dict[str, Any]) -> None:
    check_outcome(adapt(json.dumps(value).encode()))


@settings(max_examples=50, deadline=None)
@given(depth=st.integers(min_value=1, max_value=20_000), opener=st.sampled_from([b"[", b'{"a":']))
def test_deeply_nested_payload_never_raises(depth: int, opener: bytes) -> None:
    closer = b"]" if opener == b"[" else b"}"
    inner = opener * depth + b"1" + closer * depth
    payload = b'{"kind": "door", "fields": {"open": true, "battery": ' + inner + b"}}"

    check_outcome(adapt(payload))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.data_too_large])
@given(
    size=st.integers(min_value=LIMIT - 64, max_value=LIMIT + 64),
    filler=st.sampled_from([b" ", b"x", b"\xe9", b"\xff"]),
)
def test_payload_near_the_size_limit_never_raises(size: int, filler: bytes) -> None:
    head = b'{"kind": "door", "fields": {"open": true}, "pad": "'
    payload = (head + filler * size)[:size]

    result = adapt(payload)

    check_outcome(result)
    assert isinstance(result, Rejection)
    if size > LIMIT:
        assert result.reason == RejectReason.PAYLOAD_TOO_LARGE
    else:
        assert result.reason != RejectReason.PAYLOAD_TOO_LARGE
