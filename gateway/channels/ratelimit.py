"""Sliding-window budgets: how many sends a robot, or one phone number, may still take.

Pure bookkeeping on instants the caller passes in (no clock reads), so tests move time by
hand. Kept in memory: after a restart a window starts empty, which can let one window's
worth more through; providers keep their own limits and answer "throttled" (a RETRY).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta


class Window:
    """At most `limit` sends in any `window_s` seconds."""

    def __init__(self, limit: int, window_s: float) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError(f"a window needs limit >= 1 and window_s > 0, not {limit}/{window_s}")
        self.limit = limit
        self.window = timedelta(seconds=window_s)
        self._sent: deque[datetime] = deque()

    def _forget(self, now: datetime) -> None:
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()

    def available(self, now: datetime) -> int:
        self._forget(now)
        return max(0, self.limit - len(self._sent))

    def take(self, now: datetime, count: int = 1) -> None:
        """Record `count` sends at `now` (the caller checked `available`)."""
        self._forget(now)
        self._sent.extend([now] * count)

    def give_back(self, at: datetime) -> None:
        """Undo one `take(at)`: the send it reserved did not happen."""
        if at in self._sent:
            self._sent.remove(at)

    def free_at(self, now: datetime) -> datetime:
        """When the next send fits: `now` when it fits already."""
        if self.available(now) > 0:
            return now
        return self._sent[len(self._sent) - self.limit] + self.window


class KeyedWindows:
    """One `Window` per key (a phone number), created on first use, dropped when idle."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._windows: dict[str, Window] = {}

    def available(self, key: str, now: datetime) -> int:
        window = self._windows.get(key)
        return self.limit if window is None else window.available(now)

    def take(self, key: str, now: datetime) -> None:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = Window(self.limit, self.window_s)
        window.take(now)
        if len(self._windows) > 10_000:  # keep memory bounded: forget keys with no sends
            for idle in [k for k, w in self._windows.items() if w.available(now) == w.limit]:
                del self._windows[idle]

    def give_back(self, key: str, at: datetime) -> None:
        window = self._windows.get(key)
        if window is not None:
            window.give_back(at)
