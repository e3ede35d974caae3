"""The gateway's counters in the Prometheus text exposition format (version 0.0.4), for /metrics.

Every family is written with its `# HELP` and `# TYPE` lines; label values are escaped
(backslash, double quote, line feed). Counters end in `_total`; durations are seconds.
Counters come from `Health` (gateway/runtime/stats.py, in memory since start); alert and outbox
gauges are counted in the store when scraped. docs/operations.md lists every metric.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gateway.runtime.stats import Health, Histogram
from gateway.store.records import AlertState
from rules.model import Severity

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels) + "}"


@dataclass
class Exposition:
    """Metric families written in order, each with its HELP and TYPE lines."""

    lines: list[str] = field(default_factory=list)

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {_escape_help(help_text)}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float, labels: Labels = ()) -> None:
        self.lines.append(f"{name}{_labels(labels)} {_number(value)}")

    def scalar(self, name: str, kind: str, help_text: str, value: float) -> None:
        self.family(name, kind, help_text)
        self.sample(name, value)

    def labelled(
        self,
        name: str,
        kind: str,
        help_text: str,
        label_names: tuple[str, ...],
        values: Mapping[tuple[str, ...], float],
    ) -> None:
        self.family(name, kind, help_text)
        for key in sorted(values):
            self.sample(name, values[key], tuple(zip(label_names, key, strict=True)))

    def histograms(
        self, name: str, help_text: str, series: Iterable[tuple[Labels, Histogram]]
    ) -> None:
        self.family(name, "histogram", help_text)
        for labels, histogram in series:
            cumulative = 0
            for bound, count in zip(histogram.bounds, histogram.counts, strict=False):
                cumulative += count
                self.sample(f"{name}_bucket", cumulative, (*labels, ("le", _number(bound))))
            self.sample(f"{name}_bucket", histogram.count, (*labels, ("le", "+Inf")))
            self.sample(f"{name}_sum", histogram.total, labels)
            self.sample(f"{name}_count", histogram.count, labels)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _keyed(counts: Mapping[tuple[str, str], int]) -> dict[tuple[str, ...], float]:
    return {tuple(key): value for key, value in counts.items()}


def render(
    health: Health,
    alert_counts: Mapping[tuple[str, str], int],
    outbox_depths: Mapping[tuple[str, str], int],
) -> str:
    """All metrics as one exposition text. The two mappings come from the store."""
    out = Exposition()
    ingest = health.ingest
    out.scalar(
        "gridgate_messages_received_total", "counter", "MQTT messages taken in", ingest.received
    )
    out.scalar(
        "gridgate_messages_accepted_total",
        "counter",
        "messages that became readings",
        ingest.accepted,
    )
    out.labelled(
        "gridgate_messages_rejected_total",
        "counter",
        "messages rejected, by adapter and reason",
        ("adapter", "reason"),
        _keyed(ingest.rejected),
    )
    out.labelled(
        "gridgate_readings_total",
        "counter",
        "readings accepted, by sensor kind",
        ("kind",),
        {(kind,): n for kind, n in ingest.readings.items()},
    )
    out.scalar(
        "gridgate_inbox_full_waits_total",
        "counter",
        "times the MQTT thread waited for room in the inbox",
        ingest.inbox_full_waits,
    )
    out.scalar(
        "gridgate_broker_connected",
        "gauge",
        "1 while connected to the MQTT broker",
        int(health.is_broker_connected),
    )
    out.scalar(
        "gridgate_store_write_failing",
        "gauge",
        "1 while SQLite writes fail and are being retried",
        int(health.store_error is not None),
    )
    if ingest.started_at is not None:
        out.scalar(
            "gridgate_start_time_seconds",
            "gauge",
            "when the gateway started, Unix time",
            ingest.started_at.timestamp(),
        )

    alerts = health.alerts
    out.labelled(
        "gridgate_alert_events_total",
        "counter",
        "alert events decided by the rule engine, by type",
        ("type",),
        {("raised",): alerts.raised, ("cleared",): alerts.cleared},
    )
    counts: dict[tuple[str, ...], float] = {
        (state.value, severity.value): 0 for state in AlertState for severity in Severity
    }
    counts.update(_keyed(alert_counts))
    out.labelled(
        "gridgate_alerts",
        "gauge",
        "alerts in the store, by state and severity",
        ("state", "severity"),
        counts,
    )
    out.labelled(
        "gridgate_outbox_deliveries",
        "gauge",
        "outbox rows, by channel and state (pending, delivered, dead)",
        ("channel", "state"),
        _keyed(outbox_depths),
    )
    out.labelled(
        "gridgate_deliveries_total",
        "counter",
        "delivery attempts since start, by outcome",
        ("outcome",),
        {
            ("delivered",): alerts.deliveries_ok,
            ("retried",): alerts.deliveries_retried,
            ("dead",): alerts.deliveries_dead,
        },
    )
    out.histograms(
        "gridgate_delivery_latency_seconds",
        "from an outbox row's creation to its successful delivery, by channel",
        [((("channel", ch),), h) for ch, h in sorted(alerts.delivery_latency.items())],
    )
    out.histograms(
        "gridgate_pipeline_step_seconds",
        "time per pipeline step: evaluate (adapters and rules) and write (the SQLite commit)",
        [
            ((("phase", "evaluate"),), health.steps.evaluate),
            ((("phase", "write"),), health.steps.write),
        ],
    )

    telemetry = health.telemetry
    out.scalar(
        "gridgate_telemetry_enabled",
        "gauge",
        "1 when readings are written to InfluxDB",
        int(telemetry.is_enabled),
    )
    out.scalar(
        "gridgate_telemetry_buffer_points",
        "gauge",
        "points waiting in the telemetry buffer (including the batch being written)",
        telemetry.buffered,
    )
    out.scalar(
        "gridgate_telemetry_buffer_capacity",
        "gauge",
        "most points the telemetry buffer holds",
        telemetry.capacity,
    )
    out.scalar(
        "gridgate_telemetry_points_written_total",
        "counter",
        "points InfluxDB accepted",
        telemetry.written,
    )
    out.labelled(
        "gridgate_telemetry_points_dropped_total",
        "counter",
        "points lost: overflow (buffer full, oldest first), refused (malformed), shutdown",
        ("reason",),
        {(r,): telemetry.dropped.get(r, 0) for r in ("overflow", "refused", "shutdown")},
    )
    out.labelled(
        "gridgate_telemetry_points_skipped_total",
        "counter",
        "readings left out by their kind's mode (changes, sampled), by kind",
        ("kind",),
        {(kind,): n for kind, n in telemetry.skipped.items()},
    )
    out.scalar(
        "gridgate_telemetry_batches_written_total",
        "counter",
        "batches written",
        telemetry.batches_written,
    )
    out.scalar(
        "gridgate_telemetry_write_failures_total",
        "counter",
        "batches that failed (retried later, or dropped when refused)",
        telemetry.batches_failed,
    )
    return out.text()
