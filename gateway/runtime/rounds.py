"""The outer loop of a long-running task that works in rounds (outbox, deadlines).

The one place where `except Exception` is right: a round that fails is logged with the
task's name and the task carries on after a pause; a store that cannot be reached is a
warning with the reason, not a stack trace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gateway.errors import StoreUnavailable

log = logging.getLogger(__name__)

PAUSE_AFTER_FAILURE_S = 1.0


async def run_rounds(
    name: str,
    one_round: Callable[[], Awaitable[None]],
    *,
    is_done: Callable[[], bool] = lambda: False,
) -> None:
    while not is_done():
        try:
            await one_round()
        except StoreUnavailable as exc:
            log.warning("%s_store_unavailable reason=%s", name, exc.reason)
            await asyncio.sleep(PAUSE_AFTER_FAILURE_S)
        except Exception:  # the task must outlive any one bad row or alert
            log.exception("%s_round_failed", name)
            await asyncio.sleep(PAUSE_AFTER_FAILURE_S)
