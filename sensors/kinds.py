"""The kind vocabulary: what each sensor kind reports, in which unit, within which range.

A kind is a declaration, not code: its fields with a one-line meaning each. Adapters map
vendor payloads onto these fields; rules name them; the simulator may import this module
(and only this one) to speak the same words.
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


@dataclass(frozen=True)
class KindSpec:
    kind: Kind
    meaning: str
    fields: MappingProxyType[str, FieldSpec]
    # the field whose changes are the device's state ("open" for a door)
    state_field: str | None = None
    # True for kinds reported by a physical sensor placed in the site (not health-only)
    is_placed: bool = True
    extra: dict[str, str] = field(default_factory=dict)


# Health fields any placed sensor may add to a reading.
HEALTH_FIELDS: dict[str, FieldSpec] = {
    "battery": FieldSpec("float", "remaining battery charge", unit="%", ge=0, le=100),
    "voltage": FieldSpec("float", "supply or battery voltage", unit="V", ge=0, le=400),
    "tamper": FieldSpec("bool", "True when the casing was opened or the sensor removed"),
    "rssi": FieldSpec("float", "received signal strength", unit="dBm", ge=-150, le=0),
}


def _kind(
    kind: Kind, meaning: str, state_field: str | None, fields: dict[str, FieldSpec]
) -> KindSpec:
    return KindSpec(
        kind=kind,
        meaning=meaning,
        fields=MappingProxyType({**fields, **HEALTH_FIELDS}),
        state_field=state_field,
    )


KINDS: MappingProxyType[Kind, KindSpec] = MappingProxyType(
    {
        Kind.DOOR: _kind(
            Kind.DOOR,
            "a door contact on a unit entrance or a compound gate",
            "open",
            {"open": FieldSpec("bool", "True when the door is open", is_required=True)},
        ),
        Kind.SMOKE: _kind(
            Kind.SMOKE,
            "a smoke detector in a corridor, stairwell or shared room",
            "smoke",
            {"smoke": FieldSpec("bool", "True while the detector senses smoke", is_required=True)},
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
