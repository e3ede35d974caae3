"""The rule engine on a fake clock: observe readings, tick due times, restore after restart."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import AlertEvent, Engine, EventType, Track, TrackKey
from rules.model import DEFAULT_RULES, RuleFile, Severity, load_rules
from sensors.kinds import Kind
from sensors.reading import Reading

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 10:00 in Shanghai: by day, so the shipped door rule holds 180 s
T0 = datetime(2026, 3, 2, 2, 0, 0, tzinfo=UTC)
DAY_HOLD = timedelta(seconds=180)
DOOR_RULE = "door_left_open"
SMOKE_RULE = "smoke_detected"


def engine() -> Engine:
    """The shipped door and smoke rules alone (the other shipped rules watch doors too)."""
    shipped = load_rules(DEFAULT_RULES).rules
    return Engine(RuleFile(rules=[r for r in shipped if r.id in (DOOR_RULE, SMOKE_RULE)]), SHANGHAI)


def reading(
    at: datetime, device_id: str = "door-b1-u1", kind: Kind = Kind.DOOR, **fields: bool | float
) -> Reading:
    if not fields:
        fields = {"open": True}
    return Reading(device_id=device_id, kind=kind, fields=fields, event_at=at, received_at=at)


def door(at: datetime, *, is_open: bool, device_id: str = "door-b1-u1") -> Reading:
    return reading(at, device_id, open=is_open)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


# ---- held rule -----------------------------------------------------------------------


def test_open_door_raises_once_at_its_due_time() -> None:
    e = engine()

    assert e.observe(door(T0, is_open=True), T0) == []
    assert e.next_due_at() == T0 + DAY_HOLD
    assert e.tick(T0 + DAY_HOLD - seconds(0.001)) == []
    [raised] = e.tick(T0 + DAY_HOLD)

    assert raised.type == EventType.RAISED
    assert (raised.rule_id, raised.device_id) == (DOOR_RULE, "door-b1-u1")
    assert (raised.kind, raised.severity) == (Kind.DOOR, Severity.WARNING)
    assert raised.opened_at == T0
    assert raised.due_at == T0 + DAY_HOLD
    assert raised.at == T0 + DAY_HOLD
    assert e.next_due_at() is None
    assert e.tick(T0 + timedelta(hours=5)) == []


def test_late_tick_raises_with_processing_time_and_keeps_the_due_time() -> None:
    e = engine()
    e.observe(door(T0, is_open=True), T0)
    late = T0 + DAY_HOLD + seconds(7)

    [raised] = e.tick(late)

    assert raised.at == late
    assert raised.due_at == T0 + DAY_HOLD


def test_repeated_open_report_keeps_the_first_deadline() -> None:
    e = engine()
    e.observe(door(T0, is_open=True), T0)

    assert e.observe(door(T0 + seconds(60), is_open=True), T0 + seconds(60)) == []
    assert e.observe(door(T0 + seconds(120), is_open=True), T0 + seconds(120)) == []

    assert e.next_due_at() == T0 + DAY_HOLD
    [raised] = e.tick(T0 + DAY_HOLD)
    assert raised.opened_at == T0


def test_open_report_after_raise_raises_nothing_more() -> None:
    e = engine()
    e.observe(door(T0, is_open=True), T0)
    e.tick(T0 + DAY_HOLD)

    later = T0 + DAY_HOLD + seconds(30)
    assert e.observe(door(later, is_open=True), later) == []
    assert e.tick(later + DAY_HOLD) == []


def test_closing_before_due_raises_nothing_and_cancels_the_timer() -> None:
    e = engine()
    e.observe(door(T0, is_open=True), T0)

    assert e.observe(door(T0 + seconds(60), is_open=False), T0 + seconds(60)) == []

    assert e.next_due_at() is None
    assert e.tick(T0 + DAY_HOLD) == []
    assert e.active() == {}


def test_reopening_after_an_early_close_starts_a_new_timer() -> None:
    e = engine()
    e.observe(door(T0, is_open=True), T0)
    e.observe(door(T0 + seconds(60), is_open=False), T0 + seconds(60))
    reopened = T0 + seconds(100)

    e.observe(door(reopened, is_open=True), reopened)

    assert e.next_due_at() == reopened + DAY_HOLD
    assert e.tick(T0 + DAY_HOLD) == []
    [raised] = e.tick(reopened + DAY_HOLD)
    assert raised.opened_at == reopened


def test_closing_after_raise_emits_one_cleared_at_the_close_time() -> None:
    e = engine()
    e.observe(door(T0, is_open=True), T0)
    e.tick(T0 + DAY_HOLD)
    closed = T0 + seconds(400)

    [cleared] = e.observe(door(closed, is_open=False), closed + seconds(2))

    assert cleared.type == EventType.CLEARED
    assert (cleared.rule_id, cleared.device_id) == (DOOR_RULE, "door-b1-u1")
    assert cleared.opened_at == T0
    assert cleared.at == closed
    assert e.observe(door(closed + seconds(5), is_open=False), closed + seconds(5)) == []


def test_doors_are_timed_independently() -> None:
    e = engine()
    e.observe(door(T0, is_open=True, device_id="a"), T0)
    e.observe(door(T0 + seconds(50), is_open=True, device_id="b"), T0 + seconds(50))

    [first] = e.tick(T0 + DAY_HOLD)
    assert first.device_id == "a"
    assert e.next_due_at() == T0 + seconds(50) + DAY_HOLD
    [second] = e.tick(T0 + seconds(50) + DAY_HOLD)
    assert second.device_id == "b"


def test_open_at_night_uses_the_night_hold() -> None:
    e = engine()
    night = datetime(2026, 3, 2, 23, 0, tzinfo=SHANGHAI).astimezone(UTC)

    e.observe(door(night, is_open=True), night)

    assert e.next_due_at() == night + seconds(30)


# ---- immediate rule and readings that do not concern a rule ---------------------------


def test_smoke_raises_on_observe() -> None:
    e = engine()

    [raised] = e.observe(reading(T0, "smoke-b1-u1", Kind.SMOKE, smoke=True), T0 + seconds(1))

    assert raised.type == EventType.RAISED
    assert (raised.rule_id, raised.device_id) == (SMOKE_RULE, "smoke-b1-u1")
    assert raised.severity == Severity.CRITICAL
    assert raised.at == T0 + seconds(1)
    assert raised.due_at is None
    assert e.next_due_at() is None
    assert e.observe(reading(T0 + seconds(5), "smoke-b1-u1", Kind.SMOKE, smoke=True), T0) == []


def test_smoke_clearing_emits_cleared() -> None:
    e = engine()
    e.observe(reading(T0, "smoke-b1-u1", Kind.SMOKE, smoke=True), T0)

    [cleared] = e.observe(reading(T0 + seconds(9), "smoke-b1-u1", Kind.SMOKE, smoke=False), T0)

    assert cleared.type == EventType.CLEARED
    assert cleared.rule_id == SMOKE_RULE


def test_reading_without_the_rule_field_changes_nothing() -> None:
    e = engine()
    e.observe(door(T0, is_open=True), T0)
    e.take_changes()

    health_only = reading(T0 + seconds(10), battery=80.0)
    assert e.observe(health_only, T0 + seconds(10)) == []
    assert e.take_changes() == []
    assert e.next_due_at() == T0 + DAY_HOLD


def test_reading_without_the_rule_field_does_not_start_a_timer() -> None:
    e = engine()

    assert e.observe(reading(T0, battery=12.0), T0) == []

    assert e.active() == {}
    assert e.next_due_at() is None


def test_availability_readings_are_not_rule_input() -> None:
    e = engine()

    assert e.observe(reading(T0, kind=Kind.AVAILABILITY, online=False), T0) == []
    assert e.active() == {}


# ---- changes handed to the store, and restore after a restart --------------------------


def saved(e: Engine) -> list[tuple[TrackKey, Track]]:
    """What the store would hold after applying the engine's changes (copies, as from disk)."""
    return [(key, replace(track)) for key, track in e.take_changes() if track is not None]


def test_take_changes_reports_raised_and_ended_tracks_once_not_a_door_merely_open() -> None:
    e = engine()
    key = (DOOR_RULE, "door-b1-u1")
    e.observe(door(T0, is_open=True), T0)

    # open, not yet past its hold: the door's own state says as much (restore derives it)
    assert e.take_changes() == []
    assert e.active()[key] == Track(since_at=T0, due_at=T0 + DAY_HOLD, is_raised=False)

    e.tick(T0 + DAY_HOLD)
    [(_, raised)] = e.take_changes()
    assert raised is not None
    assert raised.is_raised

    e.observe(door(T0 + seconds(500), is_open=False), T0 + seconds(500))
    assert e.take_changes() == [(key, None)]


def test_pending_hold_fires_at_open_plus_hold_after_restart() -> None:
    before = engine()
    before.observe(door(T0, is_open=True), T0)
    tracks = saved(before)

    after = engine()  # the door's state, as the store keeps it: open since T0
    after.restore(tracks, states={"door-b1-u1": (Kind.DOOR, {"open": True}, T0)})

    assert after.next_due_at() == T0 + DAY_HOLD
    assert after.tick(T0 + DAY_HOLD - seconds(1)) == []
    [raised] = after.tick(T0 + DAY_HOLD)
    assert raised.opened_at == T0
    assert raised.type == EventType.RAISED


def test_raised_track_is_not_raised_again_after_restart() -> None:
    before = engine()
    before.observe(door(T0, is_open=True), T0)
    before.tick(T0 + DAY_HOLD)
    tracks = saved(before)

    after = engine()
    after.restore(tracks)

    assert after.next_due_at() is None
    assert after.tick(T0 + timedelta(days=1)) == []
    assert after.observe(door(T0 + seconds(600), is_open=True), T0 + seconds(600)) == []
    [cleared] = after.observe(door(T0 + seconds(900), is_open=False), T0 + seconds(900))
    assert cleared.type == EventType.CLEARED
    assert cleared.opened_at == T0


def test_restored_track_of_a_removed_rule_is_dropped_and_reported_ended() -> None:
    only_smoke = RuleFile.model_validate(
        {
            "rules": [
                {
                    "id": SMOKE_RULE,
                    "when": "immediate",
                    "kind": "smoke",
                    "field": "smoke",
                    "title": {"zh": "烟雾报警", "en": "Smoke detected"},
                }
            ]
        }
    )
    e = Engine(only_smoke, SHANGHAI)
    key = (DOOR_RULE, "door-b1-u1")

    e.restore([(key, Track(T0, T0 + DAY_HOLD, is_raised=True))])

    assert e.active() == {}
    assert e.next_due_at() is None
    assert e.take_changes() == [(key, None)]


# ---- property: raised once per long-enough open period --------------------------------

HOLD_S = 60
PLAIN_HOLD = RuleFile.model_validate(
    {
        "rules": [
            {
                "id": "held_open",
                "when": "held",
                "kind": "door",
                "field": "open",
                "hold_s": HOLD_S,
                "title": {"zh": "门", "en": "Door"},
            }
        ]
    }
)
STEPS = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=3 * HOLD_S),  # seconds since the previous reading
        st.sampled_from(["a", "b"]),
        st.booleans(),  # is_open
        st.booleans(),  # an extra tick at the reading's own time
    ),
    max_size=40,
)


def long_open_periods(steps: list[tuple[int, str, bool, bool]], end: datetime) -> int:
    """Open periods (first open to next close, or to `end`) lasting at least the hold."""
    opened: dict[str, datetime] = {}
    count = 0
    at = T0
    for gap, device, is_open, _ in steps:
        at += seconds(gap)
        if is_open:
            opened.setdefault(device, at)
        elif device in opened and at - opened.pop(device) >= seconds(HOLD_S):
            count += 1
    return count + sum(1 for since in opened.values() if end - since >= seconds(HOLD_S))


@settings(max_examples=200, deadline=None)
@given(steps=STEPS)
def test_one_raise_per_open_period_that_lasts_the_hold(
    steps: list[tuple[int, str, bool, bool]],
) -> None:
    e = Engine(PLAIN_HOLD, SHANGHAI)
    events: list[AlertEvent] = []

    def run_scheduler(until: datetime) -> None:
        """Tick at every due time up to `until`, as the gateway's scheduler would."""
        while (due := e.next_due_at()) is not None and due <= until:
            events.extend(e.tick(due))

    at = T0
    for gap, device, is_open, extra_tick in steps:
        at += seconds(gap)
        run_scheduler(at)
        if extra_tick:
            events.extend(e.tick(at))
        events.extend(e.observe(door(at, is_open=is_open, device_id=device), at))
    end = at + seconds(HOLD_S * 10)
    run_scheduler(end)

    raised = [ev for ev in events if ev.type == EventType.RAISED]
    assert len(raised) == long_open_periods(steps, end)
    is_raised: dict[str, bool] = {}
    for ev in events:
        if ev.type == EventType.RAISED:
            assert not is_raised.get(ev.device_id), f"{ev.device_id} raised twice"
            is_raised[ev.device_id] = True
        else:
            assert is_raised.get(ev.device_id), f"{ev.device_id} cleared without a raise"
            is_raised[ev.device_id] = False


def test_a_close_read_after_the_hold_raises_then_clears_even_in_the_same_batch() -> None:
    # a backlog (after a restart, or an overloaded gateway) hands over an open and, later
    # than its hold, the close, before any tick: the door was open past its hold
    e = engine()
    late = T0 + DAY_HOLD + seconds(20)

    events = e.observe(door(T0, is_open=True), late, until=T0) + e.observe(
        door(late, is_open=False), late, until=T0
    )

    assert [(ev.type, ev.rule_id) for ev in events] == [
        (EventType.RAISED, DOOR_RULE),
        (EventType.CLEARED, DOOR_RULE),
    ]
    assert events[0].due_at == T0 + DAY_HOLD
    assert events[1].at == late


def test_a_timer_waits_while_the_caller_holds_its_clock_back() -> None:
    e = engine()
    e.observe(door(T0, is_open=True), T0)
    due = T0 + DAY_HOLD

    # due by the wall clock, but messages received before it still wait: nothing fires
    assert e.tick(due + seconds(5), until=due - seconds(1)) == []
    # the close, received before the due time, is applied: no alert at all
    assert e.observe(door(due - seconds(2), is_open=False), due + seconds(5), until=due) == []
    assert e.tick(due + seconds(6)) == []
