"""The gateway's counters for Prometheus, through prometheus-client: one custom collector.

The hot path keeps plain integers and fixed-bucket histograms in `Health`
(gateway/runtime/stats.py) and never touches prometheus-client; `GatewayCollector` reads
them when /metrics is scraped and turns them into metric families, and asks the store for
the alert and outbox gauges (counted in SQLite, so they survive restarts). Each app has its
own `CollectorRegistry` (never the global default one): a test process runs several apps.
prometheus-client writes the text format (0.0.4, or OpenMetrics when the scraper asks for
it), escapes label values and help texts, and names counters `_total`.
docs/operations.md lists every metric.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

from gateway.cases.deadlines import STAGE_OF
from gateway.runtime.stats import Health, Histogram
from gateway.store import Store
from gateway.store.records import AlertState
from rules.model import Severity

TELEMETRY_DROP_REASONS = ("overflow", "refused", "shutdown")


class StoreCounts(Protocol):
    """The store queries the gauges need (gateway/store)."""

    def alert_counts(self) -> Mapping[tuple[str, str], int]: ...  # (state, severity) -> n

    def outbox_depths(self) -> Mapping[tuple[str, str], int]: ...  # (channel, state) -> n

    def case_counts(self) -> Mapping[tuple[str, str], int]: ...  # (state, category) -> n

    def cases_overdue(self) -> Mapping[str, int]: ...  # state -> n past its stage's limit


class Counts:
    """The store's counting queries, as the collector asks them; `now` is the app's
    clock (a case is overdue against it)."""

    def __init__(self, store: Store, now: Callable[[], datetime]) -> None:
        self._store = store
        self._now = now

    def alert_counts(self) -> Mapping[tuple[str, str], int]:
        return self._store.alerts.counts()

    def outbox_depths(self) -> Mapping[tuple[str, str], int]:
        return self._store.outbox.depths()

    def case_counts(self) -> Mapping[tuple[str, str], int]:
        return self._store.cases.counts()

    def cases_overdue(self) -> Mapping[str, int]:
        return self._store.cases.overdue_counts(self._now())


Samples = Iterable[tuple[tuple[str, ...], float]]  # (label values, value)


def _counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_text, value=value)


def _counters(
    name: str, help_text: str, labels: Iterable[str], samples: Samples
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, help_text, labels=list(labels))
    for key, value in sorted(samples):
        family.add_metric(list(key), value)
    return family


def _gauge(name: str, help_text: str, value: float, unit: str = "") -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value, unit=unit)


def _gauges(
    name: str, help_text: str, labels: Iterable[str], samples: Samples
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=list(labels))
    for key, value in sorted(samples):
        family.add_metric(list(key), value)
    return family


def _histograms(
    name: str, help_text: str, label: str, series: Iterable[tuple[str, Histogram]]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, help_text, labels=[label], unit="seconds")
    for value, histogram in series:
        buckets: list[tuple[str, float]] = []
        cumulative = 0
        for bound, count in zip(histogram.bounds, histogram.counts, strict=False):
            cumulative += count
            buckets.append((str(float(bound)), cumulative))
        buckets.append(("+Inf", histogram.count))
        family.add_metric([value], buckets, histogram.total)
    return family


class GatewayCollector(Collector):
    """Every gridgate metric, read from `Health` and the store at scrape time."""

    def __init__(self, health: Health, store: StoreCounts) -> None:
        self._health = health
        self._store = store

    def collect(self) -> Iterator[Metric]:
        yield from self._ingest()
        yield from self._alerts()
        yield from self._cases()
        yield from self._telemetry()

    def _ingest(self) -> Iterator[Metric]:
        health = self._health
        ingest = health.ingest
        yield _counter(
            "gridgate_messages_received_total", "MQTT messages taken in", ingest.received
        )
        yield _counter(
            "gridgate_messages_accepted_total",
            "messages that became readings",
            ingest.accepted,
        )
        yield _counters(
            "gridgate_messages_rejected_total",
            "messages rejected, by adapter and reason",
            ("adapter", "reason"),
            ingest.rejected.items(),
        )
        yield _counters(
            "gridgate_readings_total",
            "readings accepted, by sensor kind",
            ("kind",),
            (((kind,), n) for kind, n in ingest.readings.items()),
        )
        yield _counter(
            "gridgate_inbox_full_waits_total",
            "times MQTT reading paused until the pipeline took from a full inbox",
            ingest.inbox_full_waits,
        )
        yield _gauge(
            "gridgate_broker_connected",
            "1 while connected to the MQTT broker with the subscriptions confirmed",
            int(health.is_broker_connected),
        )
        yield _gauge(
            "gridgate_store_write_failing",
            "1 while SQLite writes fail and are being retried",
            int(health.store_error is not None),
        )
        if ingest.started_at is not None:
            yield _gauge(
                "gridgate_start_time_seconds",
                "when the gateway started, Unix time",
                ingest.started_at.timestamp(),
                unit="seconds",
            )
        yield _histograms(
            "gridgate_pipeline_step_seconds",
            "time per pipeline step: evaluate (adapters and rules) and write (the SQLite commit)",
            "phase",
            [("evaluate", health.steps.evaluate), ("write", health.steps.write)],
        )

    def _alerts(self) -> Iterator[Metric]:
        alerts = self._health.alerts
        yield _counters(
            "gridgate_alert_events_total",
            "alert events decided by the rule engine, by type",
            ("type",),
            [(("raised",), alerts.raised), (("cleared",), alerts.cleared)],
        )
        counts: dict[tuple[str, ...], float] = {
            (state.value, severity.value): 0 for state in AlertState for severity in Severity
        }
        counts.update(self._store.alert_counts().items())
        yield _gauges(
            "gridgate_alerts",
            "alerts in the store, by state and severity",
            ("state", "severity"),
            counts.items(),
        )
        yield _gauges(
            "gridgate_outbox_deliveries",
            "outbox rows, by channel and state (pending, delivered, dead)",
            ("channel", "state"),
            self._store.outbox_depths().items(),
        )
        yield _counters(
            "gridgate_deliveries_total",
            "delivery attempts since start, by outcome",
            ("outcome",),
            [
                (("delivered",), alerts.deliveries_ok),
                (("retried",), alerts.deliveries_retried),
                (("dead",), alerts.deliveries_dead),
            ],
        )
        yield _histograms(
            "gridgate_delivery_latency_seconds",
            "from an outbox row's creation to its successful delivery, by channel",
            "channel",
            sorted(alerts.delivery_latency.items()),
        )

    def _cases(self) -> Iterator[Metric]:
        yield _gauges(
            "gridgate_cases",
            "cases in the store, by state and category (小类); pairs with no case left out",
            ("state", "category"),
            self._store.case_counts().items(),
        )
        overdue: dict[tuple[str, ...], float] = {(state.value,): 0 for state in STAGE_OF}
        overdue.update(((state,), n) for state, n in self._store.cases_overdue().items())
        yield _gauges(
            "gridgate_cases_overdue",
            "open cases whose stage in hand is past its time limit, by state",
            ("state",),
            overdue.items(),
        )

    def _telemetry(self) -> Iterator[Metric]:
        telemetry = self._health.telemetry
        yield _gauge(
            "gridgate_telemetry_enabled",
            "1 when readings are written to InfluxDB",
            int(telemetry.is_enabled),
        )
        yield _gauge(
            "gridgate_telemetry_buffer_points",
            "points waiting in the telemetry buffer (including the batch being written)",
            telemetry.buffered,
            unit="points",
        )
        yield _gauge(
            "gridgate_telemetry_buffer_capacity_points",
            "most points the telemetry buffer holds",
            telemetry.capacity,
            unit="points",
        )
        yield _counter(
            "gridgate_telemetry_points_written_total",
            "points InfluxDB accepted",
            telemetry.written,
        )
        yield _counters(
            "gridgate_telemetry_points_dropped_total",
            "points lost: overflow (buffer full, oldest first), refused (malformed), shutdown",
            ("reason",),
            (((r,), telemetry.dropped.get(r, 0)) for r in TELEMETRY_DROP_REASONS),
        )
        yield _counters(
            "gridgate_telemetry_points_skipped_total",
            "readings left out by their kind's mode (changes, sampled), by kind",
            ("kind",),
            (((kind,), n) for kind, n in telemetry.skipped.items()),
        )
        yield _counter(
            "gridgate_telemetry_batches_written_total",
            "batches written",
            telemetry.batches_written,
        )
        yield _counter(
            "gridgate_telemetry_write_failures_total",
            "batches that failed (retried later, or dropped when refused)",
            telemetry.batches_failed,
        )


def registry(health: Health, store: StoreCounts) -> CollectorRegistry:
    """One app's metrics: gridgate's own and the process's (CPU, memory, open files)."""
    out = CollectorRegistry()
    out.register(GatewayCollector(health, store))
    ProcessCollector(registry=out)
    return out


def exposition(metrics: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The scrape body and its content type, in the format the `Accept` header asks for."""
    encode, content_type = choose_encoder(accept or "")
    return encode(metrics), content_type
