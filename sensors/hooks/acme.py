"""Hooks for the ACME LoRa gateway format (sensors/adapters/acme_json.yaml)."""

from __future__ import annotations

from typing import Any

TAMPER_BIT = 0x1
BATTERY_LOW_BIT = 0x2
_KNOWN_BITS = TAMPER_BIT | BATTERY_LOW_BIT


def alarm_bits(payload: dict[str, Any]) -> dict[str, bool]:
    """`alarm` is a bit field: bit 0 the casing is open, bit 1 the battery is low."""
    if "alarm" not in payload:
        return {}
    bits = payload["alarm"]
    if not isinstance(bits, int) or isinstance(bits, bool) or not 0 <= bits <= 0xFF:
        raise ValueError("alarm must be a bit field 0..255")
    return {"tamper": bool(bits & TAMPER_BIT), "battery_low": bool(bits & BATTERY_LOW_BIT)}
