"""Device state as the gateway knows it, advanced one reading at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.pipeline.devices import DeviceState, DoorState, advance, is_duplicate, repeat, shared
from sensors.kinds import KINDS, Kind
from sensors.reading import Reading

T0 = datetime(2026, 3, 2, 2, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)  # well inside every kind's offline_after_s


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def door(event_s: float, received_s: float | None = None, **fields: bool | float) -> Reading:
    received = at(event_s if received_s is None else received_s)
    return Reading(
        device_id="door-b1-u1",
        kind=Kind.DOOR,
        fields=fields,
        event_at=at(event_s),
        received_at=received,
    )


def availability(received_s: float, *, is_online: bool) -> Reading:
    return Reading(
        device_id="door-b1-u1",
        kind=Kind.AVAILABILITY,
        fields={"online": is_online},
        event_at=at(received_s),
        received_at=at(received_s),
    )


def step(state: DeviceState | None, reading: Reading) -> DeviceState:
    new = advance(state, reading, Kind.DOOR)
    assert new is not None
    return new


def test_first_reading_sets_state_and_changed_at() -> None:
    state = step(None, door(0, 1, open=True))

    assert state.door_state(NOW) == DoorState.OPEN
    assert state.changed_at == at(0)
    assert state.last_event_at == at(0)
    assert state.last_seen_at == at(1)
    assert state.is_online is True


def test_changed_at_moves_only_when_the_state_field_changes() -> None:
    state = step(None, door(0, open=True))
    state = step(state, door(10, open=True))
    assert state.changed_at == at(0)
    state = step(state, door(20, battery=55.0))
    assert state.changed_at == at(0)
    assert state.fields == {"open": True, "battery": 55.0}

    state = step(state, door(30, open=False))

    assert state.changed_at == at(30)
    assert state.door_state(NOW) == DoorState.CLOSED
    assert state.last_event_at == at(30)


def test_health_only_first_reading_leaves_the_door_unknown() -> None:
    state = step(None, door(0, battery=90.0))

    assert state.changed_at is None
    assert state.door_state(NOW) == DoorState.UNKNOWN


def test_out_of_order_reading_is_not_applied() -> None:
    state = step(None, door(10, open=True))

    assert advance(state, door(5, 11, open=False), Kind.DOOR) is None


def test_reading_with_the_same_event_time_is_applied() -> None:
    state = step(None, door(10, open=True))

    assert step(state, door(10, 11, open=False)).door_state(NOW) == DoorState.CLOSED


def test_offline_shows_the_door_offline_and_keeps_its_fields() -> None:
    state = step(None, door(0, open=True))

    state = step(state, availability(50, is_online=False))

    assert state.door_state(NOW) == DoorState.OFFLINE
    assert state.fields == {"open": True}
    assert state.changed_at == at(0)
    assert state.last_seen_at == at(50)
    assert state.last_event_at == at(0)


def test_later_reading_brings_an_offline_device_back_online() -> None:
    state = step(None, door(0, open=True))
    state = step(state, availability(50, is_online=False))

    state = step(state, door(60, open=False))

    assert state.is_online is True
    assert state.door_state(NOW) == DoorState.CLOSED


def test_availability_online_after_offline_restores_the_door_state() -> None:
    state = step(None, door(0, open=True))
    state = step(state, availability(50, is_online=False))

    state = step(state, availability(60, is_online=True))

    assert state.door_state(NOW) == DoorState.OPEN


def test_device_that_only_said_online_is_unknown() -> None:
    state = step(None, availability(0, is_online=True))

    assert state.door_state(NOW) == DoorState.UNKNOWN
    assert state.kind == Kind.DOOR
    assert state.last_event_at is None


def test_device_that_never_reported_is_unknown() -> None:
    state = DeviceState("door-x", Kind.DOOR, {}, None, None, at(0), None)

    assert state.door_state(NOW) == DoorState.UNKNOWN


def test_a_door_silent_for_longer_than_its_kind_allows_is_unknown_never_closed() -> None:
    state = step(None, door(0, open=True))
    limit = KINDS[Kind.DOOR].offline_after_s
    assert limit is not None
    later = T0 + timedelta(seconds=limit + 1)
    assert state.is_silent(later)
    assert state.door_state(later) == DoorState.UNKNOWN
    closed = step(state, door(10, 11, open=False))  # seen again at T0 + 11 s
    assert closed.door_state(later + timedelta(seconds=11)) == DoorState.UNKNOWN
    assert closed.door_state(T0 + timedelta(hours=1)) == DoorState.CLOSED


def test_the_same_reading_again_is_a_duplicate_and_a_new_one_is_not() -> None:
    state = step(None, door(0, open=True))
    assert is_duplicate(state, door(0, 5, open=True))  # redelivered later, same event
    assert not is_duplicate(state, door(0, 5, open=False))  # same instant, other news
    assert not is_duplicate(state, door(1, 5, open=True))  # a heartbeat: a new instant
    assert not is_duplicate(None, door(0, open=True))


def test_a_repeated_report_moves_only_the_instants_in_place() -> None:
    state = step(None, door(0, 1, open=False))
    fields = state.fields

    assert repeat(state, door(30, 31, open=False))

    assert (state.last_event_at, state.last_seen_at) == (at(30), at(31))
    assert state.changed_at == at(0)
    assert state.fields is fields


def test_a_report_that_says_anything_new_is_not_a_repeat() -> None:
    state = step(None, door(0, open=False))

    assert not repeat(state, door(10, open=True))  # the state changed
    assert not repeat(state, door(10, open=False, battery=80.0))  # a field it never said
    assert not repeat(state, door(-5, open=False))  # older than what was applied
    assert not repeat(None, door(10, open=False))
    assert state.last_event_at == at(0)  # none of them touched it


def test_a_device_last_heard_offline_is_not_repeated_back_online() -> None:
    state = step(None, door(0, open=False))
    state = step(state, availability(5, is_online=False))

    # the full step runs: a reading is proof of life and must bring it back online
    assert not repeat(state, door(10, open=False))
    assert step(state, door(10, open=False)).is_online is True


def test_devices_saying_the_same_share_one_fields_dict_but_one_is_not_true() -> None:
    a = step(None, door(0, open=False))
    b = advance(None, door(0, open=False), Kind.DOOR)
    assert b is not None
    assert a.fields is b.fields

    number = shared({"level": 1})
    flag = shared({"level": True})
    assert number is not flag
    assert type(number["level"]) is int
    assert type(flag["level"]) is bool
