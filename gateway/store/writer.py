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
import queue
import threading
from concurrent.futures import Future

from gateway.errors import StoreUnavailable
from gateway.runtime.stats import Health
from gateway.store import Store
from gateway.store.records import Delivery
from gateway.store.step import StepWrite

log = logging.getLogger(__name__)

RETRY_MIN_S = 0.2
RETRY_MAX_S = 10.0


GROUP_MAX = 64  # steps written in one transaction at most


class Writer:
    def __init__(self, store: Store, health: Health) -> None:
        self._store = store
        self._health = health
        self._queue: queue.SimpleQueue[tuple[StepWrite, Future[list[Delivery]]] | None] = (
            queue.SimpleQueue()
        )
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def submit(self, step: StepWrite) -> asyncio.Future[list[Delivery]]:
        """Hand `step` over now (on the loop, right after deciding it: the order of hand-over
        is the order of writes); the future gives the deliveries it queued, or raises
        StoreUnavailable if the gateway stops before the store recovers."""
        done: Future[list[Delivery]] = Future()
        self._queue.put((step, done))
        return asyncio.wrap_future(done)

    async def write(self, step: StepWrite) -> list[Delivery]:
        return await self.submit(step)

    def _run(self) -> None:
        """Write what was handed over, in order. Steps that queued up while the last
        transaction ran go together in the next (a group commit: one commit, and the pages
        they share written once), each still getting its own result."""
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            while len(group) < GROUP_MAX:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this group
                    break
                group.append(more)
            self._write(group)

    def _write(self, group: list[tuple[StepWrite, Future[list[Delivery]]]]) -> None:
        delay = RETRY_MIN_S
        while True:
            try:
                results = self._store.write_many([step for step, _ in group])
            except StoreUnavailable as exc:
                self._health.store_error = exc.reason
                if not self._stopping.is_set():
                    log.error("store_write_failed reason=%s retry_in_s=%.1f", exc.reason, delay)
                if self._stopping.is_set() or self._stopping.wait(delay):  # a stop cuts it short
                    for _, done in group:
                        done.set_exception(exc)
                    return
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            except Exception as exc:  # a step the store refuses (a bug): the others still go
                if len(group) > 1:
                    for one in group:
                        self._write([one])
                    return
                log.exception("store_write_refused")
                group[0][1].set_exception(exc)
                return
            self._health.store_error = None
            for (_, done), queued in zip(group, results, strict=True):
                done.set_result(queued)
            return

    def stopping(self) -> None:
        """From now on a failing write gives up instead of waiting for the store: its
        step stays unacknowledged (the broker sends it again) or unrecorded."""
        self._stopping.set()

    def close(self) -> None:
        """After every write handed over is done."""
        self._queue.put(None)
        self._thread.join()
