"""Due times in a heap: one pending instant per key; `pop` touches only what is due.

`_due` holds each key's true instant; the heap holds, for every key in `_due`, at least one
entry at an instant no later than it. Moving a key later (an offline watch that every report
pushes back) changes `_due` only: its entry surfaces at the old instant and goes back in at
the true one, once, instead of a heap push per report. Moving a key earlier, or scheduling
it anew, pushes an entry; entries left behind (superseded, cancelled, a second one for the
same instant) are skipped when they surface, because only an entry at its key's true
instant is live, and popping the key unschedules it. When entries outnumber keys twice over
the heap is rebuilt from `_due`.
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
        self._heap: list[tuple[datetime, K]] = []

    def __len__(self) -> int:
        return len(self._due)

    def set(self, key: K, due_at: datetime | None) -> None:
        """Schedule `key` at `due_at` (replacing any earlier instant); None cancels."""
        due = self._due
        if due_at is None:
            due.pop(key, None)
            return
        old = due.get(key)
        due[key] = due_at
        if old is not None and old <= due_at:
            return  # an entry at `old` or before surfaces first and goes back in at due_at
        heap = self._heap
        heapq.heappush(heap, (due_at, key))
        if len(heap) > 2 * len(due) + _COMPACT_SLACK:
            self._heap = [(at, k) for k, at in due.items()]
            heapq.heapify(self._heap)

    def due_of(self, key: K) -> datetime | None:
        """The instant `key` is scheduled at (None: not scheduled)."""
        return self._due.get(key)

    def _settle(self) -> datetime | None:
        """Bring the heap's top to a live entry (at its key's true instant); its instant."""
        heap = self._heap
        due = self._due
        while heap:
            at, key = heap[0]
            true = due.get(key)
            if true == at:
                return at
            if true is None:
                heapq.heappop(heap)  # cancelled, or popped through another entry
            else:  # moved later since it went in
                heapq.heapreplace(heap, (true, key))
        return None

    def next_at(self) -> datetime | None:
        return self._settle()

    def pop(self, now: datetime) -> K | None:
        """The key of the earliest timer due by `now`, unscheduled; None if nothing is due."""
        top = self._settle()
        if top is None or top > now:
            return None
        _, key = heapq.heappop(self._heap)
        del self._due[key]
        return key

    def clear(self) -> None:
        self._due.clear()
        self._heap.clear()
