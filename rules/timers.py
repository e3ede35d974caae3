"""Due times in a heap: one pending instant per key; `pop` touches only what is due.

`_due` holds each key's true instant; the heap holds, per key, one entry at an instant no
later than it (`_queued`). Moving a key later (an offline watch that every report pushes
back) changes `_due` only: its entry surfaces at the old instant and goes back in at the
true one, once, instead of a heap push per report. Moving a key earlier pushes a new entry
and leaves the old one to be skipped when it surfaces. When skipped entries outnumber live
ones the heap is rebuilt.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from datetime import datetime
from typing import Generic, TypeVar

# a track's (rule, subject), or any other key that sorts (an alert's id)
K = TypeVar("K", bound=Hashable)

_COMPACT_SLACK = 1024


class Timers(Generic[K]):
    def __init__(self) -> None:
        self._due: dict[K, datetime] = {}
        self._queued: dict[K, datetime] = {}  # the instant of the key's live entry
        self._heap: list[tuple[datetime, K]] = []

    def __len__(self) -> int:
        return len(self._due)

    def set(self, key: K, due_at: datetime | None) -> None:
        """Schedule `key` at `due_at` (replacing any earlier instant); None cancels."""
        if due_at is None:
            self._due.pop(key, None)
            return
        self._due[key] = due_at
        queued = self._queued.get(key)
        if queued is not None and queued <= due_at:
            return  # its entry surfaces first and goes back in at due_at
        self._push(key, due_at)
        if len(self._heap) > 2 * len(self._queued) + _COMPACT_SLACK:
            self._heap = [(at, k) for k, at in self._queued.items()]
            heapq.heapify(self._heap)

    def due_of(self, key: K) -> datetime | None:
        """The instant `key` is scheduled at (None: not scheduled)."""
        return self._due.get(key)

    def _push(self, key: K, at: datetime) -> None:
        self._queued[key] = at
        heapq.heappush(self._heap, (at, key))

    def _settle(self) -> tuple[datetime, K] | None:
        """Bring the heap's top to a live entry at its key's true instant; that entry."""
        heap = self._heap
        while heap:
            at, key = heap[0]
            if self._queued.get(key) != at:
                heapq.heappop(heap)  # superseded by an earlier entry
                continue
            due = self._due.get(key)
            if due == at:
                return at, key
            heapq.heappop(heap)
            del self._queued[key]
            if due is not None:  # moved later since it went in
                self._push(key, due)
        return None

    def next_at(self) -> datetime | None:
        top = self._settle()
        return None if top is None else top[0]

    def pop(self, now: datetime) -> K | None:
        """The key of the earliest timer due by `now`, unscheduled; None if nothing is due."""
        top = self._settle()
        if top is None or top[0] > now:
            return None
        _, key = heapq.heappop(self._heap)
        del self._queued[key]
        del self._due[key]
        return key

    def clear(self) -> None:
        self._due.clear()
        self._queued.clear()
        self._heap.clear()
