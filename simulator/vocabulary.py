"""The kinds the simulator plays, and the field that carries each one's state.

Only `sensors.kinds` is read: a kind the vocabulary does not declare yet is never placed
in a generated site and its incidents are skipped with a message, so the simulator runs
the same before and after a colleague adds a kind.
"""

from __future__ import annotations

from sensors.kinds import KINDS, Kind

DOOR, SMOKE, GAS, WATER_LEAK, WATER_LEVEL = "door", "smoke", "gas", "water_leak", "water_level"
LIFT = "lift"

# The state field each kind is expected to declare (sensors/kinds.py is asked first).
_STATE_FIELDS = {
    DOOR: "open",
    SMOKE: "smoke",
    GAS: "gas",
    WATER_LEAK: "leak",
    WATER_LEVEL: "level_cm",
    LIFT: "trapped",
}
# a lift monitor reports the car's whole state each time: parked level at the ground
# floor, door shut, in service, nobody trapped
LIFT_AT_REST: dict[str, bool | int] = {
    "trapped": False,
    "moving": False,
    "at_floor": True,
    "door_open": False,
    "in_service": True,
    "floor": 1,
}
SIMULATED_KINDS = tuple(_STATE_FIELDS)


def is_declared(kind: str) -> bool:
    """Whether sensors/kinds.py declares this kind (so the gateway can accept it)."""
    return kind in {k.value for k in Kind}


def state_field(kind: str) -> str:
    """The field whose value is the device's state: the declared one when there is one."""
    if is_declared(kind):
        declared = KINDS[Kind(kind)].state_field
        if declared is not None:
            return declared
    try:
        return _STATE_FIELDS[kind]
    except KeyError:
        raise ValueError(f"the simulator does not play {kind!r} sensors") from None


def rest_value(kind: str) -> bool | float:
    """The state of a quiet sensor: closed, no smoke, no gas, dry, 0 cm of water."""
    return 0.0 if kind == WATER_LEVEL else False


def rest_fields(kind: str) -> dict[str, bool | int | float]:
    """Everything a quiet sensor reports: its state field, or a lift's whole car state."""
    if kind == LIFT:
        return dict(LIFT_AT_REST)
    return {state_field(kind): rest_value(kind)}


def not_declared_message(kind: str, what: str) -> str:
    return f"skipped {what}: sensors/kinds.py declares no {kind!r} kind yet"
