"""One dict for many equal small dicts: a district holds the same few over and over.

Most doors' state is `{"open": false}`, every door's offline watch carries
`{"kind": "door"}`: a dict each would be a few hundred bytes times a hundred thousand.
`SharedDicts.share(d)` hands back the first dict seen with the same items (the same
types too: `1` is not `True`), so callers must never change a shared dict in place,
only replace it. The table is bounded: once full, new contents are no longer shared
(values that vary, like temperatures, would otherwise grow it without end). Dicts with
unhashable values are never shared.
"""

from __future__ import annotations

from typing import Any, TypeVar

V = TypeVar("V")


class SharedDicts:
    def __init__(self, capacity: int, *, max_items: int | None = None) -> None:
        self._capacity = capacity
        self._max_items = max_items  # larger dicts are left as they are
        self._table: dict[tuple[tuple[str, type, Any], ...], dict[str, Any]] = {}

    def share(self, d: dict[str, V]) -> dict[str, V]:
        if self._max_items is not None and len(d) > self._max_items:
            return d
        key = tuple((name, type(value), value) for name, value in d.items())
        try:
            found = self._table.get(key)
        except TypeError:  # a list or dict among the values
            return d
        if found is not None:
            return found
        if len(self._table) < self._capacity:
            self._table[key] = d
        return d
