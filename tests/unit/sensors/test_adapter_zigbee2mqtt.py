"""Zigbee2MQTT: the mappings that are easy to get wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sensors.adapt import AdapterSet
from sensors.kinds import Kind
from sensors.reading import Reading, Rejection, RejectReason

ADAPTERS = AdapterSet.load()
RECEIVED_AT = datetime(2026, 11, 25, 5, 4, 5, tzinfo=UTC)
REGISTRY = {"door-1": Kind.DOOR, "smoke-1": Kind.SMOKE, "cover-1": Kind.MANHOLE}


def adapt(device_id: str, payload: Any, suffix: str = "") -> Reading | Rejection:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return ADAPTERS.adapt(f"zigbee2mqtt/{device_id}{suffix}", raw, RECEIVED_AT, REGISTRY.get)


def reading(device_id: str, payload: Any, suffix: str = "") -> Reading:
    result = adapt(device_id, payload, suffix)
    assert isinstance(result, Reading), result
    assert result.device_id == device_id
    return result


def rejection(device_id: str, payload: Any, suffix: str = "") -> Rejection:
    result = adapt(device_id, payload, suffix)
    assert isinstance(result, Rejection), result
    assert result.adapter == "zigbee2mqtt"
    return result


@pytest.mark.parametrize(("contact", "is_open"), [(True, False), (False, True)])
def test_contact_true_means_the_door_is_closed(contact: bool, is_open: bool) -> None:
    assert reading("door-1", {"contact": contact}).fields == {"open": is_open}


def test_voltage_in_millivolts_becomes_volts_and_health_fields_pass_through() -> None:
    result = reading(
        "door-1",
        {"contact": True, "battery": 91, "voltage": 3005, "linkquality": 120, "tamper": False},
    )

    assert result.fields["voltage"] == pytest.approx(3.005)
    assert result.fields["battery"] == 91.0
    assert result.fields["linkquality"] == 120
    assert result.fields["tamper"] is False


def test_keys_no_kind_field_takes_are_ignored() -> None:
    payload = {"contact": True, "device_temperature": 26, "power_outage_count": 4}

    assert reading("door-1", payload).fields == {"open": False}


def test_the_registry_decides_the_kind() -> None:
    result = reading("smoke-1", {"smoke": True, "battery_low": True})

    assert result.kind == Kind.SMOKE
    assert result.fields == {"smoke": True, "battery_low": True}


def test_a_device_the_registry_does_not_know_is_unknown() -> None:
    result = rejection("0x00158d0001a2b3c4", {"contact": True})

    assert result.reason == RejectReason.UNKNOWN_DEVICE
    assert result.device_id == "0x00158d0001a2b3c4"


def test_a_registered_kind_without_a_field_map_is_an_unknown_kind() -> None:
    result = rejection("cover-1", {"contact": True})

    assert result.reason == RejectReason.UNKNOWN_KIND
    assert "manhole" in result.detail


@pytest.mark.parametrize(
    ("payload", "is_online"),
    [
        (b'{"state":"online"}', True),
        (b'{"state":"offline"}', False),
        (b"online", True),
        (b"offline", False),
        (b" Online\n", True),
    ],
)
def test_availability_in_json_and_plain_form(payload: bytes, is_online: bool) -> None:
    result = reading("door-1", payload, "/availability")

    assert result.kind == Kind.AVAILABILITY
    assert result.fields == {"online": is_online}
    assert result.event_at == RECEIVED_AT


def test_availability_of_an_unregistered_device_still_counts() -> None:
    assert reading("new-device", b"online", "/availability").fields == {"online": True}


@pytest.mark.parametrize("payload", [b'{"state":1}', b'{"online":true}', b"{", b"up"])
def test_availability_that_is_neither_word_is_invalid(payload: bytes) -> None:
    result = rejection("door-1", payload, "/availability")

    assert result.reason in (RejectReason.INVALID_PAYLOAD, RejectReason.MALFORMED_JSON)


def test_last_seen_sets_the_event_time() -> None:
    result = reading("door-1", {"contact": True, "last_seen": "2026-11-25T13:03:41.250+08:00"})

    assert result.event_at == datetime(2026, 11, 25, 5, 3, 41, 250_000, tzinfo=UTC)


def test_without_last_seen_the_arrival_time_is_used() -> None:
    assert reading("door-1", {"contact": True}).event_at == RECEIVED_AT


@pytest.mark.parametrize(
    ("option", "last_seen", "event_at"),
    [
        # the three formats Zigbee2MQTT offers (its utils.formatDate)
        ("ISO_8601", "2026-11-25T05:03:41.250Z", datetime(2026, 11, 25, 5, 3, 41, 250_000, UTC)),
        (
            "ISO_8601_local",
            "2026-11-25T13:03:41+08:00",
            datetime(2026, 11, 25, 5, 3, 41, tzinfo=UTC),
        ),
        (
            "ISO_8601_local",
            "2026-11-25T00:03:41-05:00",
            datetime(2026, 11, 25, 5, 3, 41, tzinfo=UTC),
        ),
        ("epoch", 1795582981250, datetime(2026, 11, 25, 5, 3, 1, 250_000, tzinfo=UTC)),
    ],
)
def test_last_seen_is_read_in_every_format_zigbee2mqtt_offers(
    option: str, last_seen: Any, event_at: datetime
) -> None:
    result = reading("door-1", {"contact": True, "last_seen": last_seen})

    assert result.event_at == event_at, option
    assert result.event_at.utcoffset() == timedelta(0)


def test_a_last_seen_without_an_offset_is_refused_naming_the_option_to_set() -> None:
    result = rejection("door-1", {"contact": True, "last_seen": "2026-11-25T13:03:41"})

    assert result.reason == RejectReason.INVALID_PAYLOAD
    assert "'2026-11-25T13:03:41' has no UTC offset" in result.detail
    assert "advanced.last_seen" in result.detail
    assert "ISO_8601" in result.detail


@pytest.mark.parametrize("last_seen", ["yesterday", "1795582981250", True, {"t": 1}])
def test_a_last_seen_that_is_no_time_is_invalid_and_says_how_to_fix_it(last_seen: Any) -> None:
    result = rejection("door-1", {"contact": True, "last_seen": last_seen})

    assert result.reason == RejectReason.INVALID_PAYLOAD
    assert "event time: last_seen" in result.detail
    assert "advanced.last_seen" in result.detail


def test_last_seen_far_ahead_of_arrival_is_a_future_event() -> None:
    ahead = (RECEIVED_AT + timedelta(minutes=6)).isoformat()

    result = rejection("door-1", {"contact": True, "last_seen": ahead})

    assert result.reason == RejectReason.FUTURE_EVENT_TIME


def test_null_values_are_treated_as_not_reported() -> None:
    assert reading("door-1", {"contact": False, "battery": None}).fields == {"open": True}


def test_missing_state_field_is_named_with_its_source_key() -> None:
    result = rejection("door-1", {"battery": 90})

    assert result.reason == RejectReason.INVALID_PAYLOAD
    assert "fields.open: missing (from 'contact')" in result.detail


def test_bridge_topics_are_ignored_not_read_as_a_device() -> None:
    result = ADAPTERS.adapt("zigbee2mqtt/bridge", b"online", RECEIVED_AT, REGISTRY.get)

    assert isinstance(result, Rejection)
    assert result.reason == RejectReason.IGNORED_TOPIC


def test_one_subscription_covers_the_devices_and_names_with_a_slash() -> None:
    z2m = [t for t in ADAPTERS.subscriptions() if t.startswith("zigbee2mqtt")]

    assert z2m == ["zigbee2mqtt/#"]  # one filter: no message delivered twice


@pytest.mark.parametrize(
    ("topic", "device_id"),
    [
        ("zigbee2mqtt/b3/door", "b3/door"),
        ("zigbee2mqtt/b3/door/availability", "b3/door"),
        ("zigbee2mqtt/site/b3/door", "site/b3/door"),
    ],
)
def test_a_friendly_name_with_a_slash_is_an_unknown_device_with_the_reason(
    topic: str, device_id: str
) -> None:
    result = ADAPTERS.adapt(topic, b'{"contact": false}', RECEIVED_AT, REGISTRY.get)

    assert isinstance(result, Rejection)
    assert (result.reason, result.adapter) == (RejectReason.UNKNOWN_DEVICE, "zigbee2mqtt")
    assert result.device_id == device_id  # listed under the name Zigbee2MQTT shows
    assert "friendly name with '/'" in result.detail
    assert "rename" in result.detail


@pytest.mark.parametrize("topic", ["zigbee2mqtt/bridge/logging", "zigbee2mqtt/door-1/set"])
def test_the_bridges_topics_and_commands_under_the_filter_are_ignored(topic: str) -> None:
    result = ADAPTERS.adapt(topic, b"{}", RECEIVED_AT, REGISTRY.get)

    assert isinstance(result, Rejection)
    assert result.reason == RejectReason.IGNORED_TOPIC
    assert ADAPTERS.name_for(topic) == "zigbee2mqtt"
