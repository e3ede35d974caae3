"""One object for many equal small mappings: a district holds the same few over and over.

Most doors' state is `{"open": false}`, every door's offline watch carries
`{"kind": "door"}`: a dict each would be a few hundred bytes times a hundred thousand.
`SharedDicts.share(d)` hands back the first dict seen with the same items (the same
types too: `1` is not `True`), so callers must never change a shared dict in place,
only replace it. The table is bounded: once full, new contents are no longer shared
(values that vary, like temperatures, would otherwise grow it without end). Dicts with
unhashable values are never shared.

A device's state keeps its fields as `Fields` (`FieldTable.compact`): a tuple of values
under an index of names shared by every device that reports the same names, its numbers
shared through `Numbers`, equal small ones shared whole as above.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar, overload

V = TypeVar("V")
T = TypeVar("T")
N = TypeVar("N", int, float)


def _contents(items: Iterable[tuple[str, Any]]) -> tuple[tuple[str, type, Any], ...]:
    """What makes two mappings the same reading: names, values and the values' types
    (`1 == True`, but not the same reading)."""
    return tuple((name, type(value), value) for name, value in items)


class SharedDicts:
    def __init__(self, capacity: int, *, max_items: int | None = None) -> None:
        self._capacity = capacity
        self._max_items = max_items  # larger dicts are left as they are
        self._table: dict[tuple[tuple[str, type, Any], ...], dict[str, Any]] = {}

    def share(self, d: dict[str, V]) -> dict[str, V]:
        if self._max_items is not None and len(d) > self._max_items:
            return d
        key = _contents(d.items())
        try:
            found = self._table.get(key)
        except TypeError:  # a list or dict among the values
            return d
        if found is not None:
            return found
        if len(self._table) < self._capacity:
            self._table[key] = d
        return d


class Fields(Mapping[str, V]):
    """A small read-only mapping held as a tuple of values under an index of names shared
    by every mapping with the same names in the same order: a door's state
    (`battery`, `linkquality`, `open`) is two small objects, not a dict of its own with a
    hash table (~90 bytes less a device). Built by `FieldTable.compact`."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: Mapping[str, int], values: tuple[V, ...]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, name: str) -> V:
        return self._values[self._index[name]]

    @overload
    def get(self, name: str, /) -> V | None: ...
    @overload
    def get(self, name: str, /, default: V | T) -> V | T: ...
    def get(self, name: str, /, default: object = None) -> object:
        i = self._index.get(name)
        return default if i is None else self._values[i]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Fields({self.copy()!r})"

    def copy(self) -> dict[str, V]:
        """A dict of the same items (quicker than dict(fields), which asks name by name)."""
        return dict(zip(self._index, self._values, strict=True))


class Numbers:
    """One object for each number seen again (a battery's 87.0, a clock's skew of 0.012 s):
    Python keeps ints up to 256 once, every float and larger int a reading holds is an
    object of its own, 24 bytes times a district's devices. Bounded like the tables above."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._seen: dict[tuple[type, float], float] = {}

    def share(self, number: N) -> N:
        if not number:
            return number  # 0.0 and -0.0 are equal, and stay apart
        key = (type(number), number)  # 1 and 1.0 are equal, and stay apart
        found = self._seen.get(key)
        if found is not None:
            return found  # type: ignore[return-value]  # same type as number, by the key
        if len(self._seen) < self._capacity:
            self._seen[key] = number
        return number


numbers = Numbers(8192)


def as_dict(fields: Mapping[str, V]) -> dict[str, V]:
    """A dict of `fields` (a `Fields` copies its tuple, not name by name)."""
    return fields.copy() if isinstance(fields, Fields) else dict(fields)


# Fields alike enough to share are small (`{"open": false}`); with a battery level or a
# temperature among them they are one device's own
_SHARED_MAX_ITEMS = 2


class FieldTable:
    """Makes `Fields`: one index per distinct list of names, one `Fields` for equal
    contents (most doors: `{"open": false}`), each table bounded like `SharedDicts`."""

    def __init__(self, capacity: int, kept_numbers: Numbers | None = None) -> None:
        self._capacity = capacity
        # the values are kept (a device's state): numbers seen before are one object
        self._numbers = kept_numbers if kept_numbers is not None else numbers
        self._indexes: dict[tuple[str, ...], dict[str, int]] = {}
        self._shared: dict[tuple[tuple[str, type, Any], ...], Fields[Any]] = {}

    def compact(self, d: Mapping[str, V]) -> Fields[V]:
        if isinstance(d, Fields):
            return d
        names = tuple(d)
        values = tuple(map(self._kept, d.values()))
        key: tuple[tuple[str, type, Any], ...] | None = None
        if len(values) <= _SHARED_MAX_ITEMS:
            key = _contents(zip(names, values, strict=True))
            try:
                found = self._shared.get(key)
            except TypeError:  # a list or dict among the values
                found, key = None, None
            if found is not None:
                return found
        index = self._indexes.get(names)
        if index is None:
            index = {name: i for i, name in enumerate(names)}
            if len(self._indexes) < self._capacity:
                self._indexes[names] = index
        fields: Fields[V] = Fields(index, values)
        if key is not None and len(self._shared) < self._capacity:
            self._shared[key] = fields
        return fields

    def _kept(self, value: Any) -> Any:
        is_number = type(value) is float or type(value) is int  # not a bool
        return self._numbers.share(value) if is_number else value
