"""The rule engine inside the running gateway: reload without restart, topology-aware noise
control, rule messages in words."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.runtime.broker import LocalBroker
from rules.model import DEFAULT_RULES
from tests.support import GatewayProcess, Publisher, WebhookReceiver, door, wait_until

pytestmark = pytest.mark.integration


def test_a_building_going_dark_is_one_alert_not_one_per_device(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    receiver: WebhookReceiver,
    gateways: Callable[..., GatewayProcess],
) -> None:
    gw = gateways(broker.port, topic_root, webhooks=[{"name": "ops", "url": receiver.url}])
    building = ["door-b1-u1", "smoke-b1-u1", "door-b1-u2"]  # every device of 1号楼
    for device_id in building:
        publisher.publish(f"{topic_root}/v1/{device_id}/availability", "offline")

    def building_alert() -> list[dict[str, object]]:
        return [a for a in gw.get("/alerts") if a["rule"] == "building_offline"]

    (alert,) = wait_until(building_alert, 10, "the building alert")
    assert alert["device_id"] == "b1"
    assert [n["id"] for n in alert["location"]][-1] == "b1"
    assert "3/3" in alert["message"]["zh"]
    wait_until(lambda: receiver.requests, 10, "the webhook")
    time.sleep(1.0)  # give per-device alerts, if any were wrongly sent, time to arrive
    sent = [r.json()["alert"]["rule"] for r in receiver.requests]
    assert sent == ["building_offline"], sent
    device_alerts = [a for a in gw.get("/alerts") if a["rule"] == "device_offline"]
    assert all(a["is_inhibited"] for a in device_alerts)

    for device_id in building:
        publisher.publish(f"{topic_root}/v1/{device_id}/availability", "online")
    wait_until(lambda: not building_alert()[0]["is_active"], 10, "the building alert to clear")


def test_rules_reload_on_change_and_a_bad_file_leaves_the_rules_in_force(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES, rules)
    doors = rules / "doors.yaml"
    gw = gateways(broker.port, topic_root, rules_file=rules)

    text = doors.read_text(encoding="utf-8")
    assert "hold_s: 180" in text
    doors.write_text(text.replace("hold_s: 180", "hold_s: 1").replace("hold_s: 30", "hold_s: 1"))
    log = tmp_path / "gateway.log"
    wait_until(lambda: "rules_reloaded" in log.read_text(), 10, "the reload")
    publisher.publish(f"{topic_root}/v1/door-b2-u1/reading", door(True))
    wait_until(
        lambda: any(a["rule"] == "door_left_open" for a in gw.get("/alerts")), 10, "a 1 s hold"
    )

    (rules / "broken.yaml").write_text("rules:\n  - id: x\n    when: sometimes\n")
    wait_until(lambda: "rules_refused" in log.read_text(), 10, "the refusal")
    refused = [line for line in log.read_text().splitlines() if "rules_refused" in line][-1]
    assert "broken.yaml:3" in refused
    publisher.publish(f"{topic_root}/v1/door-b3-u1/reading", door(True))
    wait_until(
        lambda: any(a["device_id"] == "door-b3-u1" for a in gw.get("/alerts")),
        10,
        "the rules in force still working",
    )
