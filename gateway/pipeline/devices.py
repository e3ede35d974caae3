"""What a reading does to a device's state, and at which instant.

Event time and arrival time (docs/rules.md, "Event time and arrival time"): readings are
applied in the order they arrive, as MQTT delivers them per device; the device's own time
is believed within bounds: never later than the gateway's clock (a bridge whose clock
runs ahead must not delay an alert or show a door open "since" a time to come), never
earlier than the rules' lateness bound, and never earlier than the device's last
reading (time does not run backwards for one device). A bridge whose clock steps back
(an NTP correction) therefore cannot make its next, correctly stamped reading look older
than the one before: it is applied, at the instant of the one before. Each reading with
a time of its own says how far the device's clock is off (`clock_skew_s`).

A redelivery (MQTT's DUP flag, after a reconnect or a restart) of a reading already
applied is a duplicate; so is the same stamped reading twice. `repeat` is the hot path's
shortcut for the commonest message of all, a sensor repeating what it said last (a
heartbeat): only the instants move, in place.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from gateway.store.devices import shared_fields
from gateway.store.records import DeviceState
from sensors.kinds import KINDS, Kind
from sensors.reading import Reading
from sensors.shared import as_dict, numbers


class Instant(NamedTuple):
    """When a reading is applied, and what its own stamp said."""

    at: datetime
    stamp: datetime | None  # the device's own time (None: stamped on arrival)
    skew_s: float | None  # stamp minus arrival


def instant_of(
    reading: Reading,
    state: DeviceState | None,
    now: datetime,
    max_lateness: timedelta,
    *,
    follows_wall: bool = True,
) -> Instant:
    """The instant a reading is applied at (see the module's notes). `follows_wall`:
    False when the gateway's clock is the readings' own (a replay or an accelerated
    simulation), where their times are the clock and no skew is measured."""
    stamp = reading.event_at
    has_stamp = stamp != reading.received_at
    at = stamp
    skew = None
    if follows_wall:
        at = min(max(stamp, now - max_lateness), now)
        if has_stamp:
            skew = numbers.share(round((stamp - reading.received_at).total_seconds(), 3))
    if state is not None and state.last_event_at is not None and at < state.last_event_at:
        at = state.last_event_at
    return Instant(at, stamp if has_stamp else None, skew)


def is_duplicate(state: DeviceState | None, reading: Reading, moment: Instant, dup: bool) -> bool:
    """A reading already applied: a redelivery stamped no later than the last stamp, or
    the same stamp with nothing new in it. (A redelivery stamped on arrival cannot be
    told from news: it is applied again, in its order.)"""
    if state is None or moment.stamp is None or state.last_stamp_at is None:
        return False
    if reading.kind == Kind.AVAILABILITY:
        return False
    if dup and moment.stamp <= state.last_stamp_at:
        return True
    return moment.stamp == state.last_stamp_at and all(
        state.fields.get(k) == v for k, v in reading.fields.items()
    )


def repeat(state: DeviceState | None, reading: Reading, moment: Instant) -> bool:
    """If `reading` only repeats what the device last said (same fields, and the device
    was online), move its instants forward in place and say so."""
    if (
        state is None
        or state.is_online is not True
        or state.last_event_at is None
        or reading.kind == Kind.AVAILABILITY
    ):
        return False
    fields = state.fields
    for name, value in reading.fields.items():
        if fields.get(name, _MISSING) != value:
            return False
    state.last_event_at = moment.at
    state.last_seen_at = reading.received_at
    if moment.stamp is not None:
        state.last_stamp_at = moment.stamp
        state.clock_skew_s = moment.skew_s
    return True


_MISSING = object()


def advance(
    state: DeviceState | None, reading: Reading, kind: Kind, moment: Instant
) -> DeviceState:
    """Apply `reading` to a device of `kind` at `moment`; a new state (the old one is
    shared with the store's pending write and is not changed)."""
    if reading.kind == Kind.AVAILABILITY:
        online = bool(reading.fields["online"])
        if state is None:
            return DeviceState(reading.device_id, kind, {}, None, None, reading.received_at, online)
        return DeviceState(
            state.device_id,
            state.kind,
            state.fields,
            state.changed_at,
            state.last_event_at,
            reading.received_at,
            online,
            state.clock_skew_s,
            state.changes,
            state.last_stamp_at,
        )
    state_field = KINDS[kind].state_field
    fields = as_dict(state.fields) if state is not None else {}
    changed_at = state.changed_at if state is not None else None
    if (
        state_field is not None
        and state_field in reading.fields
        and (state is None or fields.get(state_field) != reading.fields[state_field])
    ):
        changed_at = moment.at
    fields.update(reading.fields)
    return DeviceState(
        device_id=state.device_id if state is not None else reading.device_id,
        kind=kind,
        fields=shared_fields(fields),
        changed_at=changed_at,
        last_event_at=moment.at,
        last_seen_at=reading.received_at,
        # a reading is proof of life, whatever the availability topic said last
        is_online=True,
        clock_skew_s=moment.skew_s if moment.stamp is not None else None,
        changes=state.changes if state is not None else 0,
        last_stamp_at=moment.stamp if moment.stamp is not None else None,
    )
