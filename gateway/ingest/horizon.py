"""How far hold timers may fire: the latest instant by which every message that had
arrived was applied.

A hold timer due at T must not fire while a message that arrived before T waits to be
applied: it may be the close that cancels it. Waiting for the inbox to run empty
guarantees that, but under steady load the inbox is rarely empty, and every timer waited
for a lull: late raises at rates the gateway otherwise kept up with.

The ingest knows more precisely. Each time it reads the socket to the end (a *drain*), the
messages that had arrived before the read began are all among those it has put in the
inbox so far: a drain is an instant and a count. Once the pipeline has taken that many,
timers due by that instant may fire, whatever else waits in the inbox (it arrived later).
A drain counts only when the broker holds nothing back for us (few messages wait for our
acknowledgement, and this connection's sync marker came: gateway/ingest/sync.py).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime


class Arrivals:
    """The drains the pipeline has not yet overtaken, by the inbox's counts: `received`
    (messages put in since the start) at each drain, against `taken` (messages the
    pipeline took). A batch taken is applied before anyone asks again (it is taken and
    decided in one stretch on the loop: `Pipeline._step`), so taken means applied."""

    def __init__(self) -> None:
        self._drains: deque[tuple[datetime, int]] = deque()  # (read began, received)

    def drained(self, at: datetime, received: int) -> None:
        """The socket was read to the end by a read that began at `at`, `received`
        messages put in the inbox by then."""
        drains = self._drains
        if drains and drains[-1][1] == received:
            if at > drains[-1][0]:
                drains[-1] = (at, received)  # nothing new since: the same drain, later
            return
        drains.append((at, received))

    def until(self, taken: int) -> datetime | None:
        """The latest drain whose messages are all applied, given the pipeline has taken
        (and so applied) the first `taken` (None: no such drain yet)."""
        drains = self._drains
        while len(drains) > 1 and drains[1][1] <= taken:
            drains.popleft()
        if drains and drains[0][1] <= taken:
            return drains[0][0]
        return None
