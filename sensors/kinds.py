"""The kind vocabulary: what each sensor kind reports, in which unit, within which range.

A kind is a declaration, not code: its fields with a one-line meaning each, and how long it
may stay silent before it counts as offline. Adapters map vendor payloads onto these fields;
rules name them; the simulator may import this module (and only this one) to speak the same
words. Adding a kind here is the only core edit a new sensor ever needs (docs/integrators.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

FieldType = Literal["bool", "int", "float", "str"]


class Kind(StrEnum):
    DOOR = "door"
    SMOKE = "smoke"
    GAS = "gas"
    WATER_LEAK = "water_leak"
    WATER_LEVEL = "water_level"
    CLIMATE = "climate"
    EBIKE = "ebike"
    MANHOLE = "manhole"
    LIFT = "lift"
    AVAILABILITY = "availability"


@dataclass(frozen=True)
class FieldSpec:
    """One field a kind reports."""

    type: FieldType
    meaning: str
    unit: str | None = None
    ge: float | None = None
    le: float | None = None
    is_required: bool = False
    max_length: int | None = None  # for "str" fields


@dataclass(frozen=True)
class KindSpec:
    kind: Kind
    meaning: str
    fields: MappingProxyType[str, FieldSpec]
    # the field whose changes are the device's state ("open" for a door)
    state_field: str | None = None
    # True for kinds reported by a physical sensor placed in the site (not health-only)
    is_placed: bool = True
    # silence after which the device counts as offline: minutes for mains-powered boxes
    # that send heartbeats, about a day for battery sensors that report on change
    offline_after_s: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


# Health fields any placed sensor may add to a reading.
HEALTH_FIELDS: dict[str, FieldSpec] = {
    "battery": FieldSpec("float", "remaining battery charge", unit="%", ge=0, le=100),
    "battery_low": FieldSpec("bool", "True when the device says its battery is almost empty"),
    "voltage": FieldSpec("float", "supply or battery voltage", unit="V", ge=0, le=400),
    "tamper": FieldSpec("bool", "True when the casing was opened or the sensor removed"),
    "rssi": FieldSpec("float", "received signal strength", unit="dBm", ge=-150, le=0),
    "linkquality": FieldSpec(
        "int", "Zigbee link quality (LQI) of the last message", unit="lqi", ge=0, le=255
    ),
}

BATTERY_OFFLINE_AFTER_S = 90_000  # 25 h: battery sensors report on change and once a day
MAINS_OFFLINE_AFTER_S = 600  # 10 min: mains-powered boxes send heartbeats


def _kind(
    kind: Kind,
    meaning: str,
    state_field: str | None,
    offline_after_s: int,
    fields: dict[str, FieldSpec],
) -> KindSpec:
    return KindSpec(
        kind=kind,
        meaning=meaning,
        fields=MappingProxyType({**fields, **HEALTH_FIELDS}),
        state_field=state_field,
        offline_after_s=offline_after_s,
    )


def _flag(meaning: str) -> FieldSpec:
    return FieldSpec("bool", meaning, is_required=True)


KINDS: MappingProxyType[Kind, KindSpec] = MappingProxyType(
    {
        Kind.DOOR: _kind(
            Kind.DOOR,
            "a door contact on a unit entrance or a compound gate",
            "open",
            BATTERY_OFFLINE_AFTER_S,
            {"open": _flag("True when the door is open")},
        ),
        Kind.SMOKE: _kind(
            Kind.SMOKE,
            "a smoke detector in a corridor, stairwell or shared room",
            "smoke",
            BATTERY_OFFLINE_AFTER_S,
            {"smoke": _flag("True while the detector senses smoke")},
        ),
        Kind.GAS: _kind(
            Kind.GAS,
            "a combustible gas detector in a kitchen, boiler room or gas meter cabinet",
            "gas",
            BATTERY_OFFLINE_AFTER_S,
            {
                "gas": _flag("True while the detector senses gas above its alarm level"),
                "concentration": FieldSpec("float", "gas concentration", unit="%LEL", ge=0, le=100),
            },
        ),
        Kind.WATER_LEAK: _kind(
            Kind.WATER_LEAK,
            "a water leak probe on a floor: basement, pump room, under a pipe",
            "leak",
            BATTERY_OFFLINE_AFTER_S,
            {"leak": _flag("True while the probe is wet")},
        ),
        Kind.WATER_LEVEL: _kind(
            Kind.WATER_LEVEL,
            "a water level gauge in an underpass, a basement garage or a sewer well",
            None,
            3 * 3600,
            {
                "level_cm": FieldSpec(
                    "float",
                    "water depth above the gauge's zero mark",
                    unit="cm",
                    ge=0,
                    le=2000,
                    is_required=True,
                )
            },
        ),
        Kind.CLIMATE: _kind(
            Kind.CLIMATE,
            "a temperature and humidity sensor in a shared room or plant room",
            None,
            3 * 3600,
            {
                "temperature": FieldSpec("float", "air temperature", unit="°C", ge=-50, le=100),
                "humidity": FieldSpec("float", "relative humidity", unit="%", ge=0, le=100),
            },
        ),
        Kind.EBIKE: _kind(
            Kind.EBIKE,
            "a camera box in a lift car that spots an e-bike being taken into the lift",
            "detected",
            MAINS_OFFLINE_AFTER_S,
            {
                "detected": _flag("True while an e-bike is seen in the lift car"),
                "confidence": FieldSpec(
                    "float", "the detector's confidence in the detection", ge=0, le=1
                ),
                "lift_id": FieldSpec(
                    "str", "the lift the camera watches, as the building names it", max_length=64
                ),
            },
        ),
        Kind.MANHOLE: _kind(
            Kind.MANHOLE,
            "a tilt sensor under a manhole cover (sewer, rainwater, telecom well)",
            "is_open",
            BATTERY_OFFLINE_AFTER_S,
            {
                "is_open": _flag("True when the cover is lifted or displaced"),
                "tilt_deg": FieldSpec(
                    "float", "tilt of the cover from its resting position", unit="°", ge=0, le=180
                ),
            },
        ),
        # the signals of a lift monitor (电梯物联网监测装置, data items after GB/T 24476):
        # the monitor itself decides "trapped" (困人) and "overspeed"; being stopped between
        # floors (非平层停梯) and the door open while moving (开门走车) follow from the car's
        # own signals, so rules can hold them as long as they see fit
        Kind.LIFT: _kind(
            Kind.LIFT,
            "a lift monitor in the machine room or on the car of a residential lift",
            "trapped",
            MAINS_OFFLINE_AFTER_S,
            {
                "trapped": _flag("True while the monitor reports passengers trapped in the car"),
                "moving": FieldSpec("bool", "True while the car is travelling"),
                "at_floor": FieldSpec(
                    "bool", "True while the car stands level with a landing (in the door zone)"
                ),
                "door_open": FieldSpec("bool", "True while the car door is not closed"),
                "floor": FieldSpec(
                    "int",
                    "the floor the car is at or last passed, as the building numbers it",
                    ge=-20,
                    le=200,
                ),
                "in_service": FieldSpec(
                    "bool", "False while the lift is out of normal service (fault, maintenance)"
                ),
                "overspeed": FieldSpec("bool", "True while the monitor reports the car too fast"),
                "fault_code": FieldSpec(
                    "str", "the monitor's code for its current fault, if any", max_length=32
                ),
            },
        ),
        Kind.AVAILABILITY: KindSpec(
            kind=Kind.AVAILABILITY,
            meaning="whether a device is connected, from its availability topic or last will",
            fields=MappingProxyType(
                {
                    "online": FieldSpec(
                        "bool", "True while the device is connected", is_required=True
                    )
                }
            ),
            state_field="online",
            is_placed=False,
        ),
    }
)

PLACED_KINDS: tuple[Kind, ...] = tuple(k for k, spec in KINDS.items() if spec.is_placed)
