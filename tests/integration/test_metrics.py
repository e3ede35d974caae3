"""`/metrics` in the Prometheus text format, read back with a strict little parser, and the
gateway's JSON log lines."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from gateway.runtime.broker import LocalBroker
from gateway.runtime.metrics import Exposition, render
from gateway.runtime.stats import Health
from tests.support import GatewayProcess, Publisher, WebhookReceiver, gateway_env, wait_until

pytestmark = pytest.mark.integration

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
SUFFIXES = ("_bucket", "_sum", "_count")

Labels = frozenset[tuple[str, str]]


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


@dataclass
class Parsed:
    types: dict[str, str] = field(default_factory=dict)
    helps: dict[str, str] = field(default_factory=dict)
    samples: dict[str, dict[Labels, float]] = field(default_factory=dict)

    def value(self, name: str, **labels: str) -> float:
        return self.samples[name][frozenset(labels.items())]


def parse(text: str) -> Parsed:
    """The exposition format 0.0.4, strictly: every sample's family declared before it."""
    assert text.endswith("\n")
    out = Parsed()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert name not in out.helps, f"second HELP for {name}"
            out.helps[name] = help_text
            continue
        if line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in TYPES, line
            assert name not in out.types, f"second TYPE for {name}"
            out.types[name] = kind
            continue
        assert not line.startswith("#"), f"unexpected comment {line!r}"
        assert line.strip(), "blank line"
        match = SAMPLE.match(line)
        assert match, f"not a sample: {line!r}"
        name, label_text, value = match.groups()
        family = name
        if name not in out.types:
            family = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s)), name)
        assert family in out.types, f"{name} has no TYPE line before it"
        assert family in out.helps, f"{name} has no HELP line"
        labels: list[tuple[str, str]] = []
        rest = label_text or ""
        while rest:
            label = LABEL.match(rest)
            assert label, f"bad labels in {line!r}"
            labels.append((label.group(1), _unescape(label.group(2))))
            rest = rest[label.end() :]
        key = frozenset(labels)
        series = out.samples.setdefault(name, {})
        assert key not in series, f"duplicate sample {line!r}"
        series[key] = float(value)
    return out


def test_label_values_and_help_text_are_escaped() -> None:
    out = Exposition()
    out.labelled("x_total", "counter", "help with \\ and\nnewline", ("a",), {('q"u\\o\nte',): 2})
    text = out.text()
    assert "# HELP x_total help with \\\\ and\\nnewline\n" in text
    assert 'x_total{a="q\\"u\\\\o\\nte"} 2\n' in text
    assert parse(text).value("x_total", a='q"u\\o\nte') == 2


def test_render_without_traffic_still_declares_every_family() -> None:
    parsed = parse(render(Health(), {}, {}))
    assert parsed.value("gridgate_alerts", state="raised", severity="critical") == 0
    assert parsed.value("gridgate_telemetry_enabled") == 0
    assert parsed.types["gridgate_pipeline_step_seconds"] == "histogram"
    assert parsed.value("gridgate_pipeline_step_seconds_bucket", phase="write", le="+Inf") == 0


@pytest.fixture
def json_gateway(
    tmp_path: Path, broker: LocalBroker, topic_root: str, receiver: WebhookReceiver
) -> Iterator[GatewayProcess]:
    env, port = gateway_env(
        tmp_path,
        broker.port,
        topic_root,
        webhooks=[{"name": "ops", "url": receiver.url}],
    )
    env["GRIDGATE_LOG__FORMAT"] = "json"
    process = GatewayProcess(env=env, log_path=tmp_path / "gateway.log", api_port=port)
    process.start()
    yield process
    process.stop()


def test_metrics_count_messages_readings_alerts_deliveries_and_steps(
    json_gateway: GatewayProcess,
    publisher: Publisher,
    topic_root: str,
    receiver: WebhookReceiver,
) -> None:
    publisher.publish(
        f"{topic_root}/v1/door-b1-u1/reading", '{"kind":"door","fields":{"open":false}}'
    )
    publisher.publish(f"{topic_root}/v1/door-b1-u1/reading", "{not json")
    publisher.publish(f"{topic_root}/v1/nobody/reading", '{"kind":"door","fields":{"open":true}}')
    publisher.publish(
        f"{topic_root}/v1/smoke-b1-u1/reading", '{"kind":"smoke","fields":{"smoke":true}}'
    )
    wait_until(lambda: receiver.requests, 10, "the smoke alert's webhook")

    def scraped() -> Parsed | None:
        response = httpx.get(json_gateway.base_url + "/metrics", timeout=5)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        parsed = parse(response.text)
        delivered = parsed.samples.get("gridgate_outbox_deliveries", {})
        return (
            parsed
            if delivered.get(frozenset({("channel", "webhook"), ("state", "delivered")}))
            else None
        )

    metrics = wait_until(scraped, 10, "the delivery in /metrics")
    assert metrics.value("gridgate_messages_received_total") == 4
    assert metrics.value("gridgate_messages_accepted_total") == 2
    assert (
        metrics.value("gridgate_messages_rejected_total", adapter="native", reason="malformed_json")
        == 1
    )
    assert (
        metrics.value("gridgate_messages_rejected_total", adapter="native", reason="unknown_device")
        == 1
    )
    assert metrics.value("gridgate_readings_total", kind="door") == 1
    assert metrics.value("gridgate_readings_total", kind="smoke") == 1
    assert metrics.value("gridgate_alerts", state="raised", severity="critical") == 1
    assert metrics.value("gridgate_alerts", state="raised", severity="warning") == 0
    assert metrics.value("gridgate_alert_events_total", type="raised") == 1
    assert metrics.value("gridgate_deliveries_total", outcome="delivered") == 1
    assert metrics.types["gridgate_delivery_latency_seconds"] == "histogram"
    assert metrics.value("gridgate_delivery_latency_seconds_count", channel="webhook") == 1
    assert (
        metrics.value("gridgate_delivery_latency_seconds_bucket", channel="webhook", le="+Inf") == 1
    )
    assert 0 < metrics.value("gridgate_delivery_latency_seconds_sum", channel="webhook") < 10
    evaluate = metrics.value("gridgate_pipeline_step_seconds_count", phase="evaluate")
    assert evaluate >= 2
    buckets = [
        v
        for k, v in metrics.samples["gridgate_pipeline_step_seconds_bucket"].items()
        if ("phase", "evaluate") in k
    ]
    assert buckets == sorted(buckets)  # cumulative
    assert max(buckets) == evaluate
    assert metrics.value("gridgate_broker_connected") == 1
    assert metrics.value("gridgate_telemetry_enabled") == 0
    assert metrics.value("gridgate_telemetry_points_dropped_total", reason="overflow") == 0


def test_json_log_format_writes_one_object_per_line(
    json_gateway: GatewayProcess, publisher: Publisher, topic_root: str
) -> None:
    publisher.publish(
        f"{topic_root}/v1/smoke-b2-u1/reading", '{"kind":"smoke","fields":{"smoke":true}}'
    )
    wait_until(lambda: json_gateway.get("/alerts"), 10, "the smoke alert")
    assert json_gateway.stop() == 0
    lines = json_gateway.log_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) > 3
    entries = []
    for line in lines:
        entry = json.loads(line)  # fails on any line that is not one JSON object
        assert isinstance(entry, dict), line
        assert {"at", "level", "logger", "message"} <= set(entry), line
        entries.append(entry)
    messages = [e["message"] for e in entries]
    assert any(m.startswith("gateway_starting ") for m in messages)
    assert any(m.startswith("alert_raised rule=smoke_detected") for m in messages)
    assert messages[-1] == "gateway_stopped"
    assert {e["level"] for e in entries} <= {"debug", "info", "warning", "error", "critical"}
    assert {"gateway.service", "gateway.pipeline.steps"} <= {e["logger"] for e in entries}
