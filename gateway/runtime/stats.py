"""Counters the gateway keeps in memory and shows at /ingest/stats, /health and /metrics.

Only the asyncio loop writes them (paho's thread hands messages over first), so plain
integers are enough.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sensors.reading import Rejection


@dataclass
class IngestStats:
    received: int = 0
    accepted: int = 0
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)  # (adapter, reason)
    last_rejection: dict[tuple[str, str], Rejection] = field(default_factory=dict)
    inbox_full_waits: int = 0
    readings: Counter[str] = field(default_factory=Counter)  # kind -> readings accepted
    # adapter -> readings whose device clock was off by more than the tolerance
    skewed: Counter[str] = field(default_factory=Counter)
    # steps in which a timer came due while messages received before it still waited:
    # it fired in the step that applied them, not before (late, never false)
    timers_held: int = 0
    started_at: datetime | None = None

    def reject(self, rejection: Rejection) -> None:
        key = (rejection.adapter, rejection.reason.value)
        self.rejected[key] += 1
        self.last_rejection[key] = rejection

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


@dataclass
class Histogram:
    """Observations counted into fixed buckets (upper bounds, seconds), Prometheus-style."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)  # per bucket, not cumulative; +Inf last
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1


STEP_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
DELIVERY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


@dataclass
class AlertStats:
    raised: int = 0
    cleared: int = 0
    deliveries_ok: int = 0
    deliveries_retried: int = 0
    deliveries_dead: int = 0
    # channel -> seconds from the outbox row's creation to its delivery
    delivery_latency: dict[str, Histogram] = field(default_factory=dict)

    def delivered(self, channel: str, latency_s: float) -> None:
        self.deliveries_ok += 1
        histogram = self.delivery_latency.get(channel)
        if histogram is None:
            histogram = self.delivery_latency[channel] = Histogram(DELIVERY_BUCKETS_S)
        histogram.observe(max(0.0, latency_s))


@dataclass
class StepStats:
    """Time spent per pipeline step: `evaluate` (adapters, rules) and `write` (SQLite)."""

    evaluate: Histogram = field(default_factory=lambda: Histogram(STEP_BUCKETS_S))
    write: Histogram = field(default_factory=lambda: Histogram(STEP_BUCKETS_S))


@dataclass
class TelemetryStats:
    """The telemetry sink's buffer and what became of the points (gateway/sinks/telemetry.py)."""

    is_enabled: bool = False
    capacity: int = 0
    buffered: int = 0  # waiting in the buffer or in the batch being written
    skipped: Counter[str] = field(default_factory=Counter)  # kind -> left out by its mode
    written: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # reason -> points lost
    batches_written: int = 0
    batches_failed: int = 0
    last_error: str | None = None


@dataclass
class Health:
    """What /health reports; set by the parts that know."""

    is_broker_connected: bool = False
    broker_error: str | None = None
    store_error: str | None = None
    ingest: IngestStats = field(default_factory=IngestStats)
    alerts: AlertStats = field(default_factory=AlertStats)
    steps: StepStats = field(default_factory=StepStats)
    telemetry: TelemetryStats = field(default_factory=TelemetryStats)
