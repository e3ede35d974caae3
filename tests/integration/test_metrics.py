"""`/metrics`, read back with prometheus-client's own parsers: the Prometheus text format
(0.0.4) and OpenMetrics 1.0.0 (stricter: units, `_total`, histogram shape), checked
against the table in docs/operations.md."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from gateway.api.metrics import exposition, registry
from gateway.runtime.broker import LocalBroker
from gateway.runtime.stats import Health
from tests.support import REPO, GatewayProcess, Publisher, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
DOC_ROW = re.compile(r"^\| `(gridgate_[a-z_]+)` \| (counter|gauge|histogram) \|", re.M)


@dataclass
class Family:
    type: str
    help: str
    unit: str
    samples: dict[frozenset[tuple[str, str]], float]  # sample name + labels -> value


def _families(text: str, *, strict: bool = False) -> dict[str, Family]:
    """Sample name (`x_total`, `x_bucket`, ...) with its labels -> value, per family."""
    parse = openmetrics_families if strict else text_string_to_metric_families
    out: dict[str, Family] = {}
    for metric in parse(text):
        name = metric.name + "_total" if metric.type == "counter" else metric.name
        samples = {
            frozenset({("__name__", s.name), *s.labels.items()}): s.value for s in metric.samples
        }
        out[name] = Family(metric.type, metric.documentation, metric.unit, samples)
    return out


def _value(families: dict[str, Family], sample: str, **labels: str) -> float:
    # the family whose name is the longest start of the sample's (gridgate_cases_overdue
    # is not a sample of gridgate_cases)
    name = max((n for n in families if sample.startswith(n)), key=len)
    family = families[name]
    return family.samples[frozenset({("__name__", sample), *labels.items()})]


def _documented() -> dict[str, str]:
    """name -> type, from the metrics table in docs/operations.md."""
    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    return dict(DOC_ROW.findall(text))


class _NoStore:
    def alert_counts(self) -> dict[tuple[str, str], int]:
        return {}

    def outbox_depths(self) -> dict[tuple[str, str], int]:
        return {}

    def case_counts(self) -> dict[tuple[str, str], int]:
        return {}

    def cases_overdue(self) -> dict[str, int]:
        return {}


def test_every_family_is_declared_with_help_type_and_unit_as_documented_before_traffic() -> None:
    health = Health()
    health.ingest.started_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    metrics = registry(health, _NoStore())
    body, content_type = exposition(metrics, None)
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    text = _families(body.decode())
    strict_body, strict_type = exposition(metrics, OPENMETRICS)
    assert strict_type.startswith("application/openmetrics-text; version=1.0.0")
    strict = _families(strict_body.decode(), strict=True)

    ours = {name: f.type for name, f in text.items() if name.startswith("gridgate_")}
    assert ours == _documented()
    assert {name: f.type for name, f in strict.items() if name in ours} == ours
    for name, family in strict.items():
        assert family.help, name
        if name.endswith("_seconds") and name in ours:  # the process collector gives none
            assert family.unit == "seconds", name
    assert strict["gridgate_telemetry_buffer_capacity_points"].unit == "points"
    assert _value(text, "gridgate_alerts", state="raised", severity="critical") == 0
    assert _value(text, "gridgate_cases_overdue", state="dispatched") == 0
    assert _value(text, "gridgate_start_time_seconds") == health.ingest.started_at.timestamp()
    assert _value(text, "gridgate_pipeline_step_seconds_bucket", phase="write", le="+Inf") == 0
    assert _value(text, "process_resident_memory_bytes") > 0  # the process collector too


def test_two_apps_in_one_process_keep_their_own_counters() -> None:
    one, two = Health(), Health()
    one.ingest.received, two.ingest.received = 3, 5
    scraped = [_families(exposition(registry(h, _NoStore()), None)[0].decode()) for h in (one, two)]
    assert [_value(f, "gridgate_messages_received_total") for f in scraped] == [3, 5]


def test_metrics_count_messages_readings_alerts_deliveries_and_steps(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    receiver: WebhookReceiver,
    gateways: Callable[..., GatewayProcess],
) -> None:
    gw = gateways(broker.port, topic_root, webhooks=[{"name": "ops", "url": receiver.url}])
    publisher.publish(
        f"{topic_root}/v1/door-b1-u1/reading", '{"kind":"door","fields":{"open":false}}'
    )
    publisher.publish(f"{topic_root}/v1/door-b1-u1/reading", "{not json")
    publisher.publish(f"{topic_root}/v1/nobody/reading", '{"kind":"door","fields":{"open":true}}')
    publisher.publish(
        f"{topic_root}/v1/smoke-b1-u1/reading", '{"kind":"smoke","fields":{"smoke":true}}'
    )
    wait_until(lambda: receiver.requests, 10, "the smoke alert's webhook")

    def scraped() -> dict[str, Family] | None:
        response = httpx.get(gw.base_url + "/metrics", timeout=5)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        families = _families(response.text)
        delivered = families["gridgate_outbox_deliveries"].samples.get(
            frozenset(
                {("__name__", "gridgate_outbox_deliveries"), ("channel", "webhook")}
                | {("state", "delivered")}
            )
        )
        return families if delivered else None

    metrics = wait_until(scraped, 10, "the delivery in /metrics")
    assert _value(metrics, "gridgate_messages_received_total") == 4  # what was published
    assert _value(metrics, "gridgate_messages_accepted_total") == 2
    rejected = "gridgate_messages_rejected_total"
    assert _value(metrics, rejected, adapter="native", reason="malformed_json") == 1
    assert _value(metrics, rejected, adapter="native", reason="unknown_device") == 1
    assert _value(metrics, "gridgate_readings_total", kind="door") == 1
    assert _value(metrics, "gridgate_readings_total", kind="smoke") == 1
    assert _value(metrics, "gridgate_alerts", state="raised", severity="critical") == 1
    assert _value(metrics, "gridgate_alerts", state="raised", severity="warning") == 0
    assert _value(metrics, "gridgate_alert_events_total", type="raised") == 1
    assert _value(metrics, "gridgate_deliveries_total", outcome="delivered") == 1
    latency = "gridgate_delivery_latency_seconds"
    assert metrics[latency].type == "histogram"
    assert _value(metrics, f"{latency}_count", channel="webhook") == 1
    assert _value(metrics, f"{latency}_bucket", channel="webhook", le="+Inf") == 1
    assert 0 < _value(metrics, f"{latency}_sum", channel="webhook") < 10
    step = "gridgate_pipeline_step_seconds"
    evaluate = _value(metrics, f"{step}_count", phase="evaluate")
    assert evaluate >= 2
    buckets = [
        value
        for labels, value in metrics[step].samples.items()
        if ("phase", "evaluate") in labels and ("__name__", f"{step}_bucket") in labels
    ]
    assert len(buckets) == 13
    assert buckets == sorted(buckets)  # cumulative
    assert max(buckets) == evaluate
    assert _value(metrics, "gridgate_broker_connected") == 1
    assert _value(metrics, "gridgate_telemetry_enabled") == 0
    assert _value(metrics, "gridgate_telemetry_points_dropped_total", reason="overflow") == 0

    # a Prometheus that asks for OpenMetrics gets it, and it passes the strict parser
    strict = httpx.get(gw.base_url + "/metrics", headers={"Accept": OPENMETRICS}, timeout=5)
    assert strict.headers["content-type"].startswith("application/openmetrics-text")
    assert strict.text.endswith("# EOF\n")
    families = _families(strict.text, strict=True)
    assert families[latency].unit == "seconds"
    assert _value(families, "gridgate_messages_received_total") == 4
