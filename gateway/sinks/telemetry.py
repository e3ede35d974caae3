"""The telemetry sink: accepted readings → a bounded buffer → InfluxDB's write API, in batches.

    pipeline step committed ─► TelemetrySink.offer(accepted)   (the loop; appends, never waits)
        ─► buffer (deque, at most `buffer_capacity` points; the oldest go first on overflow)
        ─► TelemetrySink.run(): every `flush_interval_s`, or as soon as `batch_size` points wait,
           batches go through influxdb-client's synchronous write API in a worker thread
           (`asyncio.to_thread`), so a slow or absent InfluxDB never holds up ingest or rules.

A failed batch goes back to the head of the buffer (as far as capacity allows) and is
tried again after a backoff that doubles from `retry_min_s` up to `retry_max_s`. A batch the
server refuses as malformed (400, 413, 422) is dropped and counted: retrying cannot help.
At shutdown, `close()` makes one last attempt, bounded by `shutdown_flush_s`.

One point per reading: the measurement is the kind (`door`), tags are `device_id` and the
id of each hierarchy level the device stands in (`district` … `unit`) plus the configured
static `tags`, fields are the reading's fields (bools stay booleans), the time is the
reading's event time at millisecond precision. Which readings become points is chosen per
kind: `all`, `changes` (only those that changed the device's state) or `sampled:<seconds>`
(at most one point per device per period, by event time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gateway.config import TelemetrySettings
from gateway.pipeline.steps import Accepted
from gateway.runtime.clock import wait_or_timeout
from gateway.runtime.stats import TelemetryStats

log = logging.getLogger(__name__)

REFUSED_STATUSES = frozenset({400, 413, 422})  # the points themselves are bad: do not retry


class Outcome(StrEnum):
    WRITTEN = "written"
    RETRY = "retry"  # the server is down, slow or refused us for now: try again later
    REFUSED = "refused"  # the server will never take these points


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    detail: str = ""


Writer = Callable[[list[Accepted]], Result]


@dataclass(frozen=True)
class Mode:
    """Which readings of a kind become points."""

    only_changes: bool = False
    period_s: float | None = None  # sampled: at most one point per device per period

    @classmethod
    def parse(cls, text: str) -> Mode:
        """`all`, `changes` or `sampled:<seconds>` (the settings have checked the form)."""
        if text == "changes":
            return cls(only_changes=True)
        if text.startswith("sampled:"):
            return cls(period_s=float(text.split(":", 1)[1]))
        return cls()


def point_of(accepted: Accepted, tags: dict[str, str]) -> dict[str, Any]:
    """One reading as a point record of the write API: measurement = kind, tags = where the
    device stands, fields = the reading's values, time = its event time."""
    reading = accepted.reading
    point_tags = {"device_id": reading.device_id}
    point_tags.update((node.level.value, node.id) for node in accepted.placement.location)
    point_tags.update(tags)
    return {
        "measurement": reading.kind.value,
        "tags": point_tags,
        "fields": dict(reading.fields),
        "time": reading.event_at,
    }


class InfluxWriter:
    """influxdb-client's synchronous write API; blocking, so the sink calls it in a thread.

    influxdb-client (and urllib3 under it) is imported here, when telemetry is configured:
    it weighs ~13 MB of memory, which a gateway without telemetry should not carry."""

    def __init__(self, settings: TelemetrySettings) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        if settings.url is None:
            raise ValueError("telemetry.url is not set")
        token = settings.token.get_secret_value() if settings.token else ""
        self._settings = settings
        self._client = InfluxDBClient(
            url=str(settings.url).rstrip("/"),
            token=token,
            org=settings.org,
            timeout=int(settings.timeout_s * 1000),
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)

    def __call__(self, batch: list[Accepted]) -> Result:
        import urllib3
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException

        points = [point_of(a, self._settings.tags) for a in batch]
        try:
            self._api.write(
                bucket=self._settings.bucket,
                org=self._settings.org,
                record=points,
                write_precision=WritePrecision.MS,  # type: ignore[arg-type]  # its constants are str
            )
        except ApiException as exc:
            detail = f"HTTP {exc.status}: {str(exc.body or exc.reason)[:300]}"
            if exc.status in REFUSED_STATUSES:
                return Result(Outcome.REFUSED, detail)
            return Result(Outcome.RETRY, detail)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return Result(Outcome.RETRY, f"{type(exc).__name__}: {exc}"[:300])
        return Result(Outcome.WRITTEN)

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]  # the client is unannotated
        self._client.close()  # type: ignore[no-untyped-call]


class TelemetrySink:
    """The buffer between the pipeline and the writer, and the task that empties it.

    Only the asyncio loop touches the buffer (`offer` and `run` both run on it); the writer
    thread gets a copy of each batch.
    """

    def __init__(
        self, settings: TelemetrySettings, stats: TelemetryStats, writer: Writer | None = None
    ) -> None:
        self._settings = settings
        self._stats = stats
        self._writer: Writer = writer if writer is not None else InfluxWriter(settings)
        self._modes = {kind: Mode.parse(text) for kind, text in settings.per_kind.items()}
        self._buffer: deque[Accepted] = deque()
        self._in_flight = 0  # points of the batch being written
        self._sampled_at: dict[str, float] = {}  # device_id -> event time (s) of the last kept
        self._failures = 0
        self._is_closing = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        stats.is_enabled = True
        stats.capacity = settings.buffer_capacity

    @property
    def buffered(self) -> int:
        return len(self._buffer) + self._in_flight

    def offer(self, accepted: list[Accepted]) -> None:
        """Take readings from the pipeline: filter by mode, append, drop the oldest on overflow."""
        for item in accepted:
            if self._keeps(item):
                self._buffer.append(item)
            else:
                self._stats.skipped[item.reading.kind.value] += 1
        self._trim()
        if len(self._buffer) >= self._settings.batch_size and not self._failures:
            self._wake.set()

    def _keeps(self, item: Accepted) -> bool:
        mode = self._modes.get(item.reading.kind)
        if mode is None:
            return True
        if mode.only_changes:
            return item.is_change
        if mode.period_s is not None:
            at = item.reading.event_at.timestamp()
            last = self._sampled_at.get(item.reading.device_id)
            if last is not None and 0 <= at - last < mode.period_s:
                return False
            self._sampled_at[item.reading.device_id] = at
        return True

    def _trim(self) -> None:
        excess = self.buffered - self._settings.buffer_capacity
        if excess > 0:
            dropped = min(excess, len(self._buffer))
            for _ in range(dropped):
                self._buffer.popleft()
            self._stats.dropped["overflow"] += dropped
        self._stats.buffered = self.buffered

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="telemetry")

    async def run(self) -> None:
        """Write batches until `close()`; back off while the server fails."""
        while not self._is_closing:
            if self._failures:
                delay = min(
                    self._settings.retry_max_s,
                    self._settings.retry_min_s * 2.0 ** min(self._failures - 1, 30),
                )
            else:
                delay = self._settings.flush_interval_s
            await wait_or_timeout(self._wake, delay)
            self._wake.clear()
            if self._is_closing:
                break
            try:
                is_ok = await self.flush()
            except Exception:  # the task must outlive any one bad batch
                log.exception("telemetry_flush_failed buffered=%d", self.buffered)
                is_ok = False
            self._failures = 0 if is_ok else self._failures + 1
        await self.flush()

    async def flush(self) -> bool:
        """Write what is buffered, batch by batch; False at the first batch to retry."""
        while self._buffer:
            size = min(self._settings.batch_size, len(self._buffer))
            batch = [self._buffer.popleft() for _ in range(size)]
            self._in_flight = size
            try:
                result = await asyncio.to_thread(self._writer, batch)
            except BaseException:  # cancelled at shutdown: the batch counts as unwritten
                self._buffer.extendleft(reversed(batch))
                raise
            finally:
                self._in_flight = 0
            stats = self._stats
            if result.outcome == Outcome.WRITTEN:
                stats.written += size
                stats.batches_written += 1
                stats.last_error = None
                stats.buffered = self.buffered
                continue
            stats.batches_failed += 1
            stats.last_error = result.detail
            if result.outcome == Outcome.REFUSED:
                stats.dropped["refused"] += size
                stats.buffered = self.buffered
                log.error("telemetry_batch_refused points=%d error=%s", size, result.detail)
                continue
            self._buffer.extendleft(reversed(batch))  # back at the head, the oldest first
            self._trim()
            log.warning(
                "telemetry_write_failed points=%d buffered=%d error=%s",
                size,
                self.buffered,
                result.detail,
            )
            return False
        return True

    async def close(self) -> None:
        """Stop the task after one last flush, waiting at most `shutdown_flush_s`."""
        self._is_closing = True
        self._wake.set()
        if self._task is not None:
            done, _ = await asyncio.wait([self._task], timeout=self._settings.shutdown_flush_s)
            if not done:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        lost = self.buffered
        if lost:
            self._stats.dropped["shutdown"] += lost
            log.warning("telemetry_unflushed points=%d (dropped at shutdown)", lost)
        self._buffer.clear()
        self._stats.buffered = 0
        if isinstance(self._writer, InfluxWriter):
            await asyncio.to_thread(self._writer.close)
        log.info(
            "telemetry_stopped written=%d dropped=%d",
            self._stats.written,
            sum(self._stats.dropped.values()),
        )
