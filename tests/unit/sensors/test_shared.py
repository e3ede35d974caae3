"""SharedDicts and FieldTable: equal small mappings become one, within bounds, never by mistake."""

from __future__ import annotations

import math

import pytest

from sensors.shared import FieldTable, Numbers, SharedDicts


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


def test_compact_fields_read_as_the_dict_they_came_from() -> None:
    table = FieldTable(10)
    source: dict[str, bool | int | float | str] = {
        "battery": 87.0,
        "linkquality": 143,
        "open": True,
    }
    fields = table.compact(source)
    assert fields == source
    assert source == fields
    assert dict(fields) == source
    assert list(fields) == list(source)  # names in their order
    assert fields["open"] is True
    assert fields.get("battery") == 87.0
    assert fields.get("tamper") is None
    assert fields.get("tamper", False) is False
    assert "open" in fields
    assert "tamper" not in fields
    assert len(fields) == 3
    with pytest.raises(KeyError):
        fields["tamper"]
    assert fields != {**source, "open": False}


def test_equal_fields_become_one_and_names_in_the_same_order_share_an_index() -> None:
    table = FieldTable(10)
    closed = table.compact({"open": False})
    assert table.compact({"open": False}) is closed
    assert table.compact({"open": 0}) is not closed  # 0 == False, but not the same reading
    a = table.compact({"battery": 80.0, "open": True})
    b = table.compact({"battery": 81.0, "open": True})
    assert a is not b
    assert a._index is b._index
    assert table.compact(a) is a  # already compact
    listed = table.compact({"times": ["02:00"]})  # unhashable: kept, not shared
    assert listed["times"] == ["02:00"]
    assert table.compact({"times": ["02:00"]}) is not listed


def test_numbers_seen_again_are_one_object_and_equal_ones_of_other_types_stay_apart() -> None:
    table = Numbers(4)
    first = table.share(float("87.5"))
    assert table.share(float("87.5")) is first
    assert type(table.share(1)) is int
    assert type(table.share(1.0)) is float
    assert table.share(0.0) == 0.0
    assert math.copysign(1, table.share(-0.0)) == -1  # not the 0.0 seen before
    big = table.share(10**6)
    assert table.share(int("1000000")) is big
    assert table.share(2.5) is not table.share(float("2.5"))  # full: not added


def test_numbers_in_compact_fields_are_kept_once_and_bools_stay_bools() -> None:
    table = FieldTable(10, Numbers(10))
    a = table.compact({"battery": float("80.5"), "linkquality": int("300"), "open": True})
    b = table.compact({"battery": float("80.5"), "linkquality": int("300"), "open": False})
    assert a["battery"] is b["battery"]
    assert a["linkquality"] is b["linkquality"]
    assert a["open"] is True
    assert b["open"] is False
