"""The one thread that writes: pipeline steps, people's actions and delivery outcomes go
through it in the order they were decided, each step one transaction.

While the store cannot be written (disk full, a lock held by another process), the step in
hand is tried again with a doubling delay and every later one waits behind it: the order
of decisions is the order of writes, and nothing decided is dropped. `/health` says why
meanwhile (`Health.store_error`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from gateway.errors import StoreUnavailable
from gateway.runtime.stats import Health
from gateway.store import Store
from gateway.store.records import Delivery
from gateway.store.step import StepWrite

log = logging.getLogger(__name__)

RETRY_MIN_S = 0.2
RETRY_MAX_S = 10.0


class Writer:
    def __init__(self, store: Store, health: Health) -> None:
        self._store = store
        self._health = health
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._stopping = threading.Event()

    def submit(self, step: StepWrite) -> asyncio.Future[list[Delivery]]:
        """Hand `step` over now (on the loop, right after deciding it: the order of hand-over
        is the order of writes); the future gives the deliveries it queued, or raises
        StoreUnavailable if the gateway stops before the store recovers."""
        return asyncio.wrap_future(self._thread.submit(self._write, step))

    async def write(self, step: StepWrite) -> list[Delivery]:
        return await self.submit(step)

    def _write(self, step: StepWrite) -> list[Delivery]:
        delay = RETRY_MIN_S
        while True:
            try:
                queued = self._store.write(step)
            except StoreUnavailable as exc:
                self._health.store_error = exc.reason
                if self._stopping.is_set():
                    raise
                log.error("store_write_failed reason=%s retry_in_s=%.1f", exc.reason, delay)
                if self._stopping.wait(delay):  # a stop cuts the wait short
                    raise
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            self._health.store_error = None
            return queued

    def stopping(self) -> None:
        """From now on a failing write gives up instead of waiting for the store: its
        step stays unacknowledged (the broker sends it again) or unrecorded."""
        self._stopping.set()

    def close(self) -> None:
        """After every write handed over is done."""
        self._thread.shutdown(wait=True)
