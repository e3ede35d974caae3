"""The gateway's log lines, from a real gateway process: `key=value` text by default, one
JSON object per line whose keys are the event's fields with GRIDGATE_LOG__FORMAT=json."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from gateway.runtime.broker import LocalBroker
from tests.support import GatewayProcess, Publisher, wait_until

pytestmark = pytest.mark.integration

SMOKE = '{"kind":"smoke","fields":{"smoke":true}}'


def _run_to_an_alert(
    gateways: Callable[..., GatewayProcess],
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    log_format: str,
) -> str:
    gw = gateways(broker.port, topic_root, extra_env={"GRIDGATE_LOG__FORMAT": log_format})
    publisher.publish(f"{topic_root}/v1/smoke-b2-u1/reading", SMOKE)
    wait_until(lambda: gw.get("/alerts"), 10, "the smoke alert")
    assert gw.stop() == 0
    return gw.log_path.read_text(encoding="utf-8")


def test_json_log_lines_are_objects_whose_keys_are_the_event_and_its_fields(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
) -> None:
    lines = _run_to_an_alert(gateways, broker, topic_root, publisher, "json").splitlines()
    assert len(lines) > 3
    entries: list[dict[str, Any]] = []
    for line in lines:
        entry = json.loads(line)  # fails on any line that is not one JSON object
        assert isinstance(entry, dict), line
        assert {"at", "level", "logger", "message"} <= set(entry), line
        entries.append(entry)
    by_event = {e["event"]: e for e in entries if "event" in e}
    raised = by_event["alert_raised"]
    assert raised["rule"] == "smoke_detected"
    assert raised["device_id"] == "smoke-b2-u1"
    assert raised["logger"] == "gateway.pipeline.steps"
    assert raised["level"] == "info"
    assert raised["message"].startswith("alert_raised rule=smoke_detected device_id=smoke-b2-u1 ")
    starting = by_event["gateway_starting"]
    assert isinstance(starting["devices"], int)
    assert starting["devices"] > 0
    assert by_event["mqtt_connected"]["topics"].startswith(f"{topic_root}/")
    assert entries[-1]["event"] == "gateway_stopped"
    assert {e["level"] for e in entries} <= {"debug", "info", "warning", "error", "critical"}
    assert {"gateway.service", "gateway.pipeline.steps"} <= {e["logger"] for e in entries}


def test_text_log_lines_stay_event_and_key_value_fields(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
) -> None:
    text = _run_to_an_alert(gateways, broker, topic_root, publisher, "text")
    assert re.search(
        r" INFO gateway\.pipeline\.steps alert_raised rule=smoke_detected device_id=smoke-b2-u1 ",
        text,
    )
    assert not any(line.startswith("{") for line in text.splitlines())
    assert text.splitlines()[-1].endswith(" gateway_stopped")
