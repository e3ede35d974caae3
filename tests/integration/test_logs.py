"""The gateway's log lines: `key=value` text by default, one JSON object per line with
GRIDGATE_LOG__FORMAT=json."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from gateway.runtime.broker import LocalBroker
from tests.support import GatewayProcess, Publisher, wait_until

pytestmark = pytest.mark.integration


def test_json_log_format_writes_one_object_per_line(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
) -> None:
    gw = gateways(broker.port, topic_root, extra_env={"GRIDGATE_LOG__FORMAT": "json"})
    publisher.publish(
        f"{topic_root}/v1/smoke-b2-u1/reading", '{"kind":"smoke","fields":{"smoke":true}}'
    )
    wait_until(lambda: gw.get("/alerts"), 10, "the smoke alert")
    assert gw.stop() == 0
    lines = gw.log_path.read_text(encoding="utf-8").splitlines()
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
