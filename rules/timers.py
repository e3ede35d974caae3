"""Due times in a heap: one pending instant per key; `pop_due` touches only what is due.

Rescheduling a key pushes a new entry and leaves the old one to be skipped when it
surfaces (checked against the key's current instant). When skipped entries outnumber live
ones the heap is rebuilt, so a device that reports every minute cannot grow it unbounded.
"""

from __future__ import annotations

import heapq
from datetime import datetime

from rules.tracks import TrackKey

_COMPACT_SLACK = 1024


class Timers:
    def __init__(self) -> None:
        self._due: dict[TrackKey, datetime] = {}
        self._heap: list[tuple[datetime, TrackKey]] = []

    def __len__(self) -> int:
        return len(self._due)

    def set(self, key: TrackKey, due_at: datetime | None) -> None:
        """Schedule `key` at `due_at` (replacing any earlier instant); None cancels."""
        if due_at is None:
            self._due.pop(key, None)
            return
        if self._due.get(key) == due_at:
            return
        self._due[key] = due_at
        heapq.heappush(self._heap, (due_at, key))
        if len(self._heap) > 2 * len(self._due) + _COMPACT_SLACK:
            self._heap = [(at, k) for k, at in self._due.items()]
            heapq.heapify(self._heap)

    def due_of(self, key: TrackKey) -> datetime | None:
        """The instant `key` is scheduled at (None: not scheduled)."""
        return self._due.get(key)

    def next_at(self) -> datetime | None:
        heap = self._heap
        while heap:
            due_at, key = heap[0]
            if self._due.get(key) == due_at:
                return due_at
            heapq.heappop(heap)
        return None

    def pop(self, now: datetime) -> TrackKey | None:
        """The key of the earliest timer due by `now`, unscheduled; None if nothing is due."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            due_at, key = heapq.heappop(heap)
            if self._due.get(key) == due_at:
                del self._due[key]
                return key
        return None

    def clear(self) -> None:
        self._due.clear()
        self._heap.clear()
