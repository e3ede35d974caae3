"""SharedDicts: equal small dicts become one, within bounds, and never by mistake."""

from __future__ import annotations

from sensors.shared import SharedDicts


def test_equal_dicts_become_one_and_different_types_do_not() -> None:
    table = SharedDicts(10)
    first = table.share({"open": False})
    assert table.share({"open": False}) is first
    assert table.share({"open": 0}) is not first  # 0 == False, but not the same reading


def test_unhashable_values_are_left_alone_and_do_not_raise() -> None:
    table = SharedDicts(10)
    data = {"times": ["2026-03-02T02:00:00+00:00"]}
    assert table.share(data) is data
    assert table.share({"times": ["2026-03-02T02:00:00+00:00"]}) is not data


def test_a_full_table_and_larger_dicts_are_not_shared() -> None:
    table = SharedDicts(2, max_items=1)
    a = table.share({"v": 1.0})
    table.share({"v": 2.0})
    assert table.share({"v": 1.0}) is a  # still found
    assert table.share({"v": 3.0}) is not table.share({"v": 3.0})  # full: not added
    big = {"kind": "door", "silent_at": "2026-03-02T02:00:00+00:00"}
    assert table.share(big) is big
    assert table.share(dict(big)) is not big
