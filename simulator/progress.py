"""A one-line progress report on stderr for long runs, at most once a second."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TextIO

UPDATE_S = 1.0


class Progress:
    """`update()` is cheap to call per message; it writes only when a second has passed."""

    def __init__(
        self,
        *,
        start_at: datetime,
        duration: timedelta | None,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream or sys.stderr
        self._start_at = start_at
        self._duration = duration
        self._clock = clock
        self._t0 = self._last = clock()
        self._written = False

    def update(self, sent: int, simulated_at: datetime) -> None:
        now = self._clock()
        if now - self._last < UPDATE_S:
            return
        self._last = now
        elapsed = simulated_at - self._start_at
        share = ""
        if self._duration:
            share = f" {100 * min(1.0, elapsed / self._duration):5.1f}%"
        rate = sent / max(now - self._t0, 1e-9)
        line = (
            f"\rsimulated {simulated_at.isoformat(timespec='seconds')}{share}  "
            f"sent {sent:,}  {rate:,.0f} msg/s "
        )
        self._stream.write(line)
        self._stream.flush()
        self._written = True

    def close(self) -> None:
        if self._written:
            self._stream.write("\n")
            self._stream.flush()


def wanted(flag: bool, stream: TextIO | None = None) -> bool:
    """Progress is shown with `--progress`, or when stderr is a terminal."""
    return flag or (stream or sys.stderr).isatty()
