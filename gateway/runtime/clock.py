"""Time for the gateway's edges: the wall clock, and waiting for a wake-up or a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock(Protocol):
    def now(self) -> datetime: ...

    def wall_seconds(self, span: timedelta) -> float:
        """How long `span` of this clock's time takes on the wall."""
        ...

    def advance(self, at: datetime) -> None:
        """A reading says it is at least `at` (ignored by the wall clock)."""
        ...


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def wall_seconds(self, span: timedelta) -> float:
        return span.total_seconds()

    def advance(self, at: datetime) -> None:
        return None


EXTRAPOLATE_MAX_WALL_S = 1.0


class EventClock:
    """Time taken from the readings: for accelerated simulations and replays.

    `now` is the latest event time seen (readings, and the simulator's clock ticks on
    `ROOT/v1/simulator/clock`, `{"now": ISO, "speed": x}`), run forward at the simulator's
    speed for at most a second of wall time after the last tick, so timers fire between
    ticks but never run far ahead of what the stream has shown.
    """

    def __init__(self) -> None:
        self._at: datetime | None = None
        self._mono = 0.0
        self._speed = 1.0

    def advance(self, at: datetime, speed: float | None = None) -> None:
        if speed is not None and speed > 0:
            self._speed = speed
        if self._at is None or at > self.now():
            self._at = at
            self._mono = time.monotonic()

    def now(self) -> datetime:
        if self._at is None:
            return datetime.now(UTC)
        wall = min(time.monotonic() - self._mono, EXTRAPOLATE_MAX_WALL_S)
        return self._at + timedelta(seconds=wall * self._speed)

    def wall_seconds(self, span: timedelta) -> float:
        return span.total_seconds() / self._speed

    def tick(self, payload: bytes) -> bool:
        """Apply a simulator clock message; False when it is not one."""
        try:
            data = json.loads(payload)
            at = datetime.fromisoformat(data["now"])
            speed = float(data.get("speed", 1.0))
        except (ValueError, KeyError, TypeError):
            return False
        if at.tzinfo is None:
            return False
        self.advance(at.astimezone(UTC), speed)
        return True


async def wait_or_timeout(event: asyncio.Event, timeout_s: float | None) -> None:
    """Return when `event` is set or `timeout_s` has passed (None: no deadline).

    `asyncio.timeout` rather than `wait_for`: on 3.11, wait_for can swallow a cancellation
    that arrives as the event is set, and a task being stopped would carry on.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
