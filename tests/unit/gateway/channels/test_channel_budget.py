"""Send budgets, the digest split of the outbox, and quiet hours: pure, on given instants."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.channels.ratelimit import KeyedWindows, Window
from gateway.channels.sms import quiet_until
from gateway.outbox.worker import split_for_budget
from gateway.store.records import Delivery

T0 = datetime(2026, 3, 2, 2, 0, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")


def rows(n: int) -> list[Delivery]:
    return [
        Delivery(i, i, "alert.raised", "wecom", "grid", "{}", f"k{i}", 0, T0, T0) for i in range(n)
    ]


def test_window_allows_limit_sends_then_frees_one_as_the_oldest_leaves() -> None:
    w = Window(3, 60)
    w.take(T0)
    w.take(T0 + timedelta(seconds=10), 2)

    assert w.available(T0 + timedelta(seconds=30)) == 0
    assert w.free_at(T0 + timedelta(seconds=30)) == T0 + timedelta(seconds=60)
    assert w.available(T0 + timedelta(seconds=60)) == 1
    assert w.available(T0 + timedelta(seconds=70)) == 3


def test_give_back_undoes_a_reservation() -> None:
    w = KeyedWindows(1, 3600)
    w.take("13800000001", T0)
    assert w.available("13800000001", T0) == 0
    w.give_back("13800000001", T0)
    assert w.available("13800000001", T0) == 1
    assert w.available("13900000000", T0) == 1


def test_window_refuses_a_nonsense_budget() -> None:
    with pytest.raises(ValueError, match="limit >= 1"):
        Window(0, 60)


def test_within_the_budget_every_row_goes_alone() -> None:
    singles, digests, waiting = split_for_budget(rows(5), 5, 10)
    assert [d.id for d in singles] == [0, 1, 2, 3, 4]
    assert digests == []
    assert waiting == []


def test_beyond_the_budget_rows_go_in_digests_and_the_rest_waits() -> None:
    singles, digests, waiting = split_for_budget(rows(30), 2, 10)
    assert singles == []
    assert [[d.id for d in g] for g in digests] == [list(range(10)), list(range(10, 20))]
    assert [d.id for d in waiting] == list(range(20, 30))


def test_with_no_budget_left_everything_waits() -> None:
    assert split_for_budget(rows(3), 0, 10) == ([], [], rows(3))


@pytest.mark.parametrize(
    ("local", "ends"),
    [
        ("2026-03-02 23:30", "2026-03-03 07:00"),
        ("2026-03-03 01:00", "2026-03-03 07:00"),
        ("2026-03-03 06:59", "2026-03-03 07:00"),
    ],
)
def test_quiet_hours_over_midnight_end_at_the_next_morning(local: str, ends: str) -> None:
    at = datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=TZ)
    expected = datetime.strptime(ends, "%Y-%m-%d %H:%M").replace(tzinfo=TZ)
    assert quiet_until(at, time(22, 0), time(7, 0)) == expected


@pytest.mark.parametrize("local", ["07:00", "12:00", "21:59"])
def test_outside_quiet_hours_nothing_waits(local: str) -> None:
    at = datetime.strptime(f"2026-03-02 {local}", "%Y-%m-%d %H:%M").replace(tzinfo=TZ)
    assert quiet_until(at, time(22, 0), time(7, 0)) is None


def test_quiet_hours_within_one_day() -> None:
    at = datetime(2026, 3, 2, 13, 0, tzinfo=TZ)
    assert quiet_until(at, time(12, 0), time(14, 0)) == datetime(2026, 3, 2, 14, 0, tzinfo=TZ)
