"""The gateway on paho's public path (GRIDGATE_MQTT__FAST_PATH=false, what start-up falls
back to when paho's internals moved), end to end through a real Mosquitto: a burst of
readings is taken whole, alerts are raised, and a broker restart loses nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gateway.runtime.broker import LocalBroker
from tests.support import GatewayProcess, Publisher, door, fast_rules, wait_until

pytestmark = pytest.mark.integration

BURST = 300
SMOKE = json.dumps({"kind": "smoke", "fields": {"smoke": True}})


def _rules(gw: GatewayProcess) -> list[tuple[str, str]]:
    return sorted((a["rule"], a["device_id"]) for a in gw.get("/alerts"))


def test_on_pahos_public_path_readings_raise_alerts_and_a_broker_restart_loses_nothing(
    own_broker: LocalBroker,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    gw = gateways(
        own_broker.port,
        topic_root,
        rules_file=fast_rules(tmp_path, hold_s=1),
        extra_env={"GRIDGATE_MQTT__FAST_PATH": "false"},
    )
    log = gw.log_path.read_text(encoding="utf-8")
    assert "mqtt_fast_path_disabled reason=the settings (mqtt.fast_path=false)" in log
    assert " path=public" in log
    root = f"{topic_root}/v1"

    publisher = Publisher(own_broker.port)
    try:
        t0 = datetime.now(UTC) - timedelta(seconds=5)
        for n in range(BURST):  # a sensor repeating itself: every report taken and acked
            at = (t0 + timedelta(milliseconds=n)).isoformat()
            publisher.publish(f"{root}/door-b1-u2/reading", door(False, at))
        publisher.publish(f"{root}/smoke-b1-u1/reading", SMOKE)
        wait_until(lambda: _rules(gw), 10, "the smoke alert")
    finally:
        publisher.close()
    assert gw.get("/ingest/stats")["accepted"] == BURST + 1

    own_broker.stop()
    wait_until(lambda: gw.call("GET", "/health").status_code == 503, 10, "health to say so")
    own_broker.start()  # the gateway's session (persistent broker) waits for it
    publisher = Publisher(own_broker.port)
    try:
        publisher.publish(f"{root}/door-b1-u1/reading", door(True))
        publisher.publish(f"{root}/smoke-b2-u1/reading", SMOKE)
        expected = [
            ("door_left_open", "door-b1-u1"),
            ("smoke_detected", "smoke-b1-u1"),
            ("smoke_detected", "smoke-b2-u1"),
        ]
        wait_until(lambda: _rules(gw) == expected, 15, "both alerts after the restart")
    finally:
        publisher.close()
    stats = gw.get("/ingest/stats")
    assert stats["received"] == stats["accepted"] == BURST + 3  # none lost, none twice
    health = httpx.get(gw.base_url + "/health", timeout=5).json()
    assert health["broker_connected"] is True
    assert "Traceback" not in gw.log_path.read_text(encoding="utf-8")
