"""Time for the gateway's edges: the wall clock, and waiting for a wake-up or a deadline."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


async def wait_or_timeout(event: asyncio.Event, timeout_s: float | None) -> None:
    """Return when `event` is set or `timeout_s` has passed (None: no deadline).

    `asyncio.timeout` rather than `wait_for`: on 3.11, wait_for can swallow a cancellation
    that arrives as the event is set, and a task being stopped would carry on.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
