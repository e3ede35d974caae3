"""The timer table: one instant per key, whichever way it moves, and nothing popped early."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.timers import Timers

T0 = datetime(2026, 3, 2, 2, 0, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def test_a_key_moved_later_pops_at_its_new_instant_only() -> None:
    timers = Timers()
    timers.set(("offline", "door-1"), at(10))
    timers.set(("offline", "door-1"), at(60))  # a report pushed the watch back

    assert timers.next_at() == at(60)
    assert timers.pop(at(59)) is None
    assert timers.pop(at(60)) == ("offline", "door-1")
    assert timers.pop(at(999)) is None
    assert len(timers) == 0


def test_a_key_moved_earlier_or_cancelled_and_set_again_keeps_one_instant() -> None:
    timers = Timers()
    key = ("held", "door-1")
    timers.set(key, at(60))
    timers.set(key, at(5))
    assert timers.pop(at(5)) == key
    assert timers.pop(at(60)) is None  # the superseded entry is not a second timer

    timers.set(key, at(30))
    timers.set(key, None)
    assert timers.next_at() is None
    timers.set(key, at(40))
    assert [timers.pop(at(35)), timers.pop(at(40)), timers.pop(at(99))] == [None, key, None]


@settings(max_examples=200, deadline=None)
@given(
    moves=st.lists(
        st.tuples(st.integers(0, 5), st.one_of(st.none(), st.integers(0, 100))), max_size=60
    )
)
def test_pops_match_the_last_instant_set_for_each_key(moves: list[tuple[int, int | None]]) -> None:
    timers = Timers()
    last: dict[tuple[str, str], int | None] = {}
    for k, s in moves:
        key = ("rule", f"dev-{k}")
        timers.set(key, None if s is None else at(s))
        last[key] = s
    expected = sorted((s, key) for key, s in last.items() if s is not None)

    popped = []
    for second in range(0, 102):
        while (key := timers.pop(at(second))) is not None:
            popped.append((second, key))
    assert popped == expected
    assert len(timers) == 0


def test_many_moves_later_do_not_grow_the_heap() -> None:
    timers = Timers()
    rng = random.Random(7)  # noqa: S311  # a reproducible order, not a secret
    for report in range(200_000):
        device = rng.randrange(1000)
        timers.set(("offline", f"door-{device}"), at(3600 + report / 10))
    assert len(timers._heap) <= 1000  # the point of the design


@settings(max_examples=300, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["set", "pop"]),
            st.integers(0, 4),
            st.one_of(st.none(), st.integers(0, 60)),
        ),
        max_size=80,
    )
)
def test_sets_and_pops_interleaved_follow_the_last_instant_of_each_key(
    ops: list[tuple[str, int, int | None]],
) -> None:
    """Against a plain dict: a pop gives the earliest key due (ties by key), exactly once,
    however keys were moved, cancelled and set again in between."""
    timers: Timers[tuple[str, str]] = Timers()
    model: dict[tuple[str, str], int] = {}
    now = 0
    for op, k, s in ops:
        key = ("rule", f"dev-{k}")
        if op == "set":
            due = None if s is None else now + s
            timers.set(key, None if due is None else at(due))
            if due is None:
                model.pop(key, None)
            else:
                model[key] = due
        else:
            now += k
            due_now = sorted((s_, key_) for key_, s_ in model.items() if s_ <= now)
            expected = due_now[0][1] if due_now else None
            assert timers.pop(at(now)) == expected
            if expected is not None:
                del model[expected]
        nxt = min(model.values(), default=None)
        assert timers.next_at() == (None if nxt is None else at(nxt))
        assert len(timers) == len(model)
