"""Messages on the wire: gridgate's native format and Zigbee2MQTT's."""

from __future__ import annotations

from datetime import UTC, datetime

from simulator.behaviour import Message
from simulator.formats import Encoder, Format

AT = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)


def _reading(device_id: str, kind: str, fields: dict[str, object]) -> Message:
    return Message(AT, device_id, {"kind": kind, "event_at": AT.isoformat(), "fields": fields})


def test_zigbee2mqtt_door_contact_true_means_closed_and_carries_battery_and_link() -> None:
    encoder = Encoder(Format.ZIGBEE2MQTT, "zigbee2mqtt")
    topic, payload = encoder.wire(_reading("door-b1-u1", "door", {"open": True, "battery": 87.4}))
    assert topic == "zigbee2mqtt/door-b1-u1"
    assert isinstance(payload, dict)
    assert payload["contact"] is False
    assert payload["battery"] == 87
    assert payload["voltage"] == 2500 + round(87.4 * 6)
    assert 0 <= payload["linkquality"] <= 255
    assert "event_at" not in payload
    assert "time" not in payload
    _, later = encoder.wire(_reading("door-b1-u1", "door", {"open": False}))
    assert later == {**payload, "contact": True}  # the last battery is repeated


def test_zigbee2mqtt_hazards_and_availability() -> None:
    encoder = Encoder(Format.ZIGBEE2MQTT, "zigbee2mqtt")
    smoke = encoder.wire(_reading("s", "smoke", {"smoke": True}))[1]
    assert isinstance(smoke, dict)
    assert set(smoke) == {"smoke", "linkquality"}  # no battery known yet
    assert smoke["smoke"] is True
    assert encoder.wire(_reading("g", "gas", {"gas": True}))[1]["gas"] is True  # type: ignore[index]
    assert encoder.wire(_reading("w", "water_leak", {"leak": True}))[1]["water_leak"] is True  # type: ignore[index]
    assert encoder.wire(_reading("l", "water_level", {"level_cm": 33.0}))[1]["liquid_depth"] == 0.33  # type: ignore[index]
    offline = Message(AT, "s", {"online": False}, "availability")
    assert encoder.wire(offline) == ("zigbee2mqtt/s/availability", {"state": "offline"})
    assert encoder.availability("s", True) == ("zigbee2mqtt/s/availability", {"state": "online"})


def test_native_readings_keep_the_event_time_and_availability_is_plain_text() -> None:
    encoder = Encoder(Format.NATIVE, "gg")
    message = _reading("door-1", "door", {"open": True})
    assert encoder.wire(message) == ("gg/v1/door-1/reading", message.payload)
    assert encoder.wire(Message(AT, "door-1", {"online": False}, "availability")) == (
        "gg/v1/door-1/availability",
        "offline",
    )
