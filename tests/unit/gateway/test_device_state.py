"""Device state as the gateway knows it, advanced one reading at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.pipeline.devices import Instant, advance, instant_of, is_duplicate, repeat
from gateway.store.devices import shared_fields as shared
from gateway.store.records import DeviceState, DoorState
from sensors.kinds import KINDS, Kind
from sensors.reading import Reading

T0 = datetime(2026, 3, 2, 2, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)  # well inside every kind's offline_after_s
LATENESS = timedelta(seconds=300)


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


def moment(state: DeviceState | None, reading: Reading, now: datetime | None = None) -> Instant:
    """When the gateway applies `reading`, its clock at `now` (default: the arrival)."""
    return instant_of(reading, state, now or reading.received_at, LATENESS)


def step(state: DeviceState | None, reading: Reading, now: datetime | None = None) -> DeviceState:
    return advance(state, reading, Kind.DOOR, moment(state, reading, now))


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


def test_a_reading_stamped_earlier_than_the_last_is_applied_in_arrival_order() -> None:
    state = step(None, door(10, open=True))

    later = step(state, door(5, 11, open=False))

    assert later.door_state(NOW) == DoorState.CLOSED
    assert later.changed_at == at(10)  # time does not run backwards for one device
    assert later.last_stamp_at == at(5)


def test_a_bridge_clock_ahead_is_believed_no_later_than_the_gateways() -> None:
    opened = door(30, 0, open=True)  # stamped 30 s ahead of its arrival

    when = moment(None, opened)
    state = advance(None, opened, Kind.DOOR, when)

    assert when == Instant(at(0), at(30), 30.0)
    assert state.changed_at == at(0)  # never "open since" a time to come
    assert state.clock_skew_s == 30.0


def test_a_bridge_clock_that_steps_back_cannot_make_its_next_reading_look_old() -> None:
    # open stamped 120 s ahead, then an NTP correction: the close has the right time
    state = step(None, door(120, 0, open=True))
    closed = step(state, door(5, 5, open=False))

    assert closed.door_state(NOW) == DoorState.CLOSED
    assert closed.changed_at == at(5)
    assert closed.clock_skew_s is None  # stamped on arrival: nothing to measure


def test_a_stamp_older_than_the_lateness_bound_is_applied_at_the_bound() -> None:
    late = door(0, 1000, open=True)

    assert moment(None, late).at == at(1000) - LATENESS


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
    state = step(None, door(0, 1, open=True))

    def duplicate(reading: Reading, *, dup: bool = False) -> bool:
        return is_duplicate(state, reading, moment(state, reading), dup)

    assert duplicate(door(0, 5, open=True))  # the same stamp, nothing new
    assert not duplicate(door(0, 5, open=False))  # same instant, other news
    assert not duplicate(door(1, 5, open=True))  # a heartbeat: a new instant
    assert duplicate(door(-3, 6, open=False), dup=True)  # a redelivery of an older reading
    assert not duplicate(door(-3, 6, open=False))  # the same, not a redelivery: a clock step
    assert not duplicate(door(7, 7, open=False), dup=True)  # stamped on arrival: news
    assert not is_duplicate(None, door(0, 1, open=True), moment(None, door(0, 1)), True)


def test_a_repeated_report_moves_only_the_instants_in_place() -> None:
    state = step(None, door(0, 1, open=False))
    fields = state.fields

    again = door(30, 31, open=False)
    assert repeat(state, again, moment(state, again))

    assert (state.last_event_at, state.last_seen_at) == (at(30), at(31))
    assert state.changed_at == at(0)
    assert state.fields is fields


def test_a_report_that_says_anything_new_is_not_a_repeat() -> None:
    state = step(None, door(0, open=False))

    for reading in (
        door(10, open=True),  # the state changed
        door(10, open=False, battery=80.0),  # a field it never said
    ):
        assert not repeat(state, reading, moment(state, reading))
    assert not repeat(None, door(10, open=False), moment(None, door(10, open=False)))
    assert state.last_event_at == at(0)  # none of them touched it


def test_a_device_last_heard_offline_is_not_repeated_back_online() -> None:
    state = step(None, door(0, open=False))
    state = step(state, availability(5, is_online=False))

    # the full step runs: a reading is proof of life and must bring it back online
    again = door(10, open=False)
    assert not repeat(state, again, moment(state, again))
    assert step(state, again).is_online is True


def test_devices_saying_the_same_share_one_fields_dict_but_one_is_not_true() -> None:
    a = step(None, door(0, open=False))
    b = step(None, door(0, open=False))
    assert a.fields is b.fields

    number = shared({"level": 1})
    flag = shared({"level": True})
    assert number is not flag
    assert type(number["level"]) is int
    assert type(flag["level"]) is bool
