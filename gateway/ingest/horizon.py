"""How far hold timers may fire: the latest instant by which every message that had
arrived was applied.

A hold timer due at T must not fire while a message that arrived before T waits to be
applied: it may be the close that cancels it. Waiting for the inbox to run empty
guarantees that, but under steady load the inbox is rarely empty, and every timer waited
for a lull: late raises at rates the gateway otherwise kept up with.

The ingest knows more precisely. Each time it reads the socket to the end (a *drain*), the
messages that had arrived before the read began are all among those it has put in the
inbox so far: a drain is an instant and a count. Once the pipeline has applied that many,
timers due by that instant may fire, whatever else waits in the inbox (it arrived later).
A drain counts only when the broker holds nothing back for us (few messages wait for our
acknowledgement, and this connection's sync marker came: gateway/ingest/sync.py).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime


class Arrivals:
    """Messages put in the inbox so far, and the drains not yet overtaken by the pipeline."""

    def __init__(self) -> None:
        self.count = 0  # messages handed to the inbox since the start
        self._drains: deque[tuple[datetime, int]] = deque()  # (read began, count), oldest first

    def drained(self, at: datetime) -> None:
        """The socket was read to the end by a read that began at `at`."""
        drains = self._drains
        if drains and drains[-1][1] == self.count:
            if at > drains[-1][0]:
                drains[-1] = (at, self.count)  # nothing new since: the same drain, later
            return
        drains.append((at, self.count))

    def until(self, applied: int) -> datetime | None:
        """The latest drain whose messages are all applied, given the pipeline has applied
        the first `applied` (None: no such drain yet)."""
        drains = self._drains
        while len(drains) > 1 and drains[1][1] <= applied:
            drains.popleft()
        if drains and drains[0][1] <= applied:
            return drains[0][0]
        return None

    def is_all_applied(self, applied: int) -> bool:
        return applied >= self.count
