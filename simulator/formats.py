"""How a planned message goes on the wire: gridgate's native format, or Zigbee2MQTT's.

native        {root}/v1/{device_id}/reading   {"kind", "event_at", "fields"}
              {root}/v1/{device_id}/availability   online | offline   (retained)
zigbee2mqtt   {base}/{device_id}   {"contact": false, "battery": 90, "linkquality": 120,
              "voltage": 3000}: contact true means CLOSED; smoke {"smoke": true}, gas
              {"gas": true}, water leak {"water_leak": true}, water level
              {"liquid_depth": metres}. No event time: the broker's delivery is the time.
              {base}/{device_id}/availability   {"state": "online"}   (retained)
              A lift monitor is no Zigbee device: beside Zigbee2MQTT it speaks the
              vendor-neutral lift JSON (sensors/adapters/lift_json.yaml, written here
              again): lift/{device_id}/status {"time", "car": {"floor", "direction",
              "leveled", "door"}, "service", "alarm": {"trapped", "overspeed"}},
              lift/{device_id}/online   online | offline

The simulator's own status: native {root}/v1/simulator/status online|offline;
zigbee2mqtt {base}/bridge/state {"state": "online"}; both retained, offline as last will.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from simulator.behaviour import Message
from simulator.topics import OFFLINE, ONLINE, availability_topic, reading_topic, status_topic
from simulator.vocabulary import DOOR, GAS, LIFT, SMOKE, WATER_LEAK, WATER_LEVEL


class Format(StrEnum):
    NATIVE = "native"
    ZIGBEE2MQTT = "zigbee2mqtt"


DEFAULT_ROOT = {Format.NATIVE: "gridgate", Format.ZIGBEE2MQTT: "zigbee2mqtt"}
LIFT_ROOT = "lift"
_Z2M_FIELD = {SMOKE: "smoke", GAS: "gas", WATER_LEAK: "water_leak"}


def encode(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class Encoder:
    """Topic and payload of each message; remembers each device's battery (Zigbee2MQTT
    repeats the whole device state in every message)."""

    format: Format = Format.NATIVE
    root: str = "gridgate"
    lift_ids: frozenset[str] = frozenset()  # lift monitors: the lift JSON beside Zigbee2MQTT
    _battery: dict[str, float] = field(default_factory=dict)

    def wire(self, message: Message) -> tuple[str, object]:
        """(topic, payload as plain data or text), for `plan` and for the publisher."""
        if message.topic == "availability":
            return self.availability(message.device_id, bool(message.payload["online"]))
        if self.format == Format.NATIVE:
            return reading_topic(self.root, message.device_id), message.payload
        if message.payload["kind"] == LIFT:
            return f"{LIFT_ROOT}/{message.device_id}/status", _lift_json(message)
        return f"{self.root}/{message.device_id}", self._z2m(message)

    def availability(self, device_id: str, is_online: bool) -> tuple[str, object]:
        word = ONLINE if is_online else OFFLINE
        if self.format == Format.NATIVE:
            return availability_topic(self.root, device_id), word
        if device_id in self.lift_ids:
            return f"{LIFT_ROOT}/{device_id}/online", word
        return f"{self.root}/{device_id}/availability", {"state": word}

    def status(self, is_online: bool) -> tuple[str, bytes]:
        word = ONLINE if is_online else OFFLINE
        if self.format == Format.NATIVE:
            return status_topic(self.root), word.encode()
        return f"{self.root}/bridge/state", encode({"state": word})

    def _z2m(self, message: Message) -> dict[str, Any]:
        kind = message.payload["kind"]
        fields = message.payload["fields"]
        out: dict[str, Any] = {}
        if kind == DOOR:
            out["contact"] = not fields["open"]
        elif kind == WATER_LEVEL:
            out["liquid_depth"] = round(float(fields["level_cm"]) / 100, 3)
        else:
            out[_Z2M_FIELD[kind]] = next(v for k, v in fields.items() if k != "battery")
        if "battery" in fields:
            self._battery[message.device_id] = fields["battery"]
        battery = self._battery.get(message.device_id)
        if battery is not None:
            out["battery"] = round(battery)
            out["voltage"] = 2500 + round(battery * 6)  # mV: 2.5 V empty, 3.1 V full
        out["linkquality"] = 60 + zlib.crc32(message.device_id.encode()) % 150
        return out


def _lift_json(message: Message) -> dict[str, Any]:
    fields = message.payload["fields"]
    return {
        "time": message.payload["event_at"],
        "car": {
            "floor": fields["floor"],
            "direction": "up" if fields["moving"] else "stopped",
            "leveled": fields["at_floor"],
            "door": "open" if fields["door_open"] else "closed",
        },
        "service": "normal" if fields["in_service"] else "maintenance",
        "alarm": {"trapped": fields["trapped"], "overspeed": False},
        "fault": None,
    }


def as_bytes(payload: object) -> bytes:
    return payload.encode() if isinstance(payload, str) else encode(payload)
