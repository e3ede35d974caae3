"""Device state as the gateway knows it: last readings, when the state changed, online.

`advance(state, reading)` returns a new state, or None when the reading is older than what
was already applied (out of order) and must be counted, not applied. `repeat(state,
reading)` is the hot path's shortcut for the commonest message of all, a sensor repeating
what it said last (a heartbeat): only the two instants move, in place.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from sensors.kinds import KINDS, Kind
from sensors.reading import FieldValue, Reading
from sensors.shared import SharedDicts


class DoorState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    OFFLINE = "offline"
    UNKNOWN = "unknown"  # no report yet


@dataclass(slots=True)
class DeviceState:
    device_id: str
    kind: Kind
    fields: dict[str, FieldValue]
    changed_at: datetime | None  # event time the state field last changed
    last_event_at: datetime | None
    last_seen_at: datetime  # arrival of the last message of any sort
    is_online: bool | None  # None: never said

    def is_silent(self, now: datetime) -> bool:
        """No report for longer than the kind allows: the last state is no longer known."""
        limit = KINDS[self.kind].offline_after_s
        return limit is not None and (now - self.last_seen_at).total_seconds() > limit

    def door_state(self, now: datetime) -> DoorState:
        if self.is_online is False:
            return DoorState.OFFLINE
        if self.is_silent(now):
            # a door that went silent while open may still be open: never say "closed"
            return DoorState.UNKNOWN
        value = self.fields.get("open")
        if value is None:
            return DoorState.UNKNOWN
        return DoorState.OPEN if value else DoorState.CLOSED


def is_duplicate(state: DeviceState | None, reading: Reading) -> bool:
    """The same reading again: same event time, nothing new in it (an MQTT redelivery after
    a reconnect, or a sensor repeating itself). Applying it twice must change nothing."""
    return (
        state is not None
        and reading.kind != Kind.AVAILABILITY
        and state.last_event_at == reading.event_at
        and all(state.fields.get(k) == v for k, v in reading.fields.items())
    )


def repeat(state: DeviceState | None, reading: Reading) -> bool:
    """If `reading` only repeats what the device last said (newer, same fields, and the
    device was online), move its instants forward in place and say so."""
    if (
        state is None
        or state.is_online is not True
        or state.last_event_at is None
        or reading.event_at < state.last_event_at
        or reading.kind == Kind.AVAILABILITY
    ):
        return False
    fields = state.fields
    for name, value in reading.fields.items():
        if fields.get(name, _MISSING) != value:
            return False
    state.last_event_at = reading.event_at
    state.last_seen_at = reading.received_at
    return True


_MISSING = object()


# Field dicts of a state are never changed in place (`advance` copies), so devices that
# say the same can share one.
_FIELDS = SharedDicts(4096)
shared = _FIELDS.share


def advance(state: DeviceState | None, reading: Reading, kind: Kind) -> DeviceState | None:
    """Apply `reading` to a device of `kind`; None when the reading is out of order."""
    if reading.kind == Kind.AVAILABILITY:
        online = bool(reading.fields["online"])
        if state is None:
            return DeviceState(reading.device_id, kind, {}, None, None, reading.received_at, online)
        return replace(state, is_online=online, last_seen_at=reading.received_at)
    if (
        state is not None
        and state.last_event_at is not None
        and reading.event_at < state.last_event_at
    ):
        return None
    state_field = KINDS[kind].state_field
    fields = dict(state.fields) if state is not None else {}
    changed_at = state.changed_at if state is not None else None
    if (
        state_field is not None
        and state_field in reading.fields
        and (state is None or fields.get(state_field) != reading.fields[state_field])
    ):
        changed_at = reading.event_at
    fields.update(reading.fields)
    return DeviceState(
        device_id=state.device_id if state is not None else reading.device_id,
        kind=kind,
        fields=shared(fields),
        changed_at=changed_at,
        last_event_at=reading.event_at,
        last_seen_at=reading.received_at,
        # a reading is proof of life, whatever the availability topic said last
        is_online=True,
    )
