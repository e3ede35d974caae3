"""The webhook receiver records real POSTs; the simulator publishes Zigbee2MQTT on a broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from simulator.behaviour import plan
from simulator.formats import Format
from simulator.publisher import Broker, publish
from simulator.receiver import Receiver
from simulator.scorer import raised_from_webhook_log
from simulator.site import generate_site, site_from_data

if TYPE_CHECKING:
    from tests.integration.simulator.conftest import Mosquitto, Recorder, Wait

pytestmark = pytest.mark.integration


def test_the_receiver_records_each_webhook_body_as_a_json_line(tmp_path: Path) -> None:
    out = tmp_path / "hooks.jsonl"
    receiver = Receiver(out)
    receiver.start()
    body = {"version": 1, "event": "alert.raised", "alert": {"id": 3, "rule": "smoke_detected",
            "device_id": "smoke-b1-u1", "raised_at": "2026-11-25T05:00:01+00:00"}}  # fmt: skip
    try:
        url = f"http://127.0.0.1:{receiver.port}/hook"
        headers = {"X-Gridgate-Event": "alert.raised", "Idempotency-Key": "alert-3-raised-ops"}
        assert httpx.post(url, json=body, headers=headers, timeout=5).status_code == 200
        assert httpx.post(url, content=b"not json", timeout=5).status_code == 200
    finally:
        receiver.stop()
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["body"] == body
    assert (lines[0]["event"], lines[0]["idempotency_key"]) == (
        "alert.raised",
        "alert-3-raised-ops",
    )
    assert lines[1]["body"] == "not json"
    raised, _ = raised_from_webhook_log(out)
    assert [(r.rule, r.device_id) for r in raised] == [("smoke_detected", "smoke-b1-u1")]


def test_zigbee2mqtt_output_reaches_the_broker_on_its_topics(
    mosquitto: Mosquitto, subscriber: Recorder, topic_root: str, wait_for: Wait
) -> None:
    devices = site_from_data(generate_site(seed=1, buildings_per_grid=1)).devices
    start_at = datetime.now(UTC)
    planned = plan(devices, [], seed=1, start_at=start_at, duration=timedelta(seconds=30))
    broker = Broker(mosquitto.host, mosquitto.port, client_id=f"sim-{topic_root}")
    report = publish(
        planned,
        device_ids=[d.device_id for d in devices],
        broker=broker,
        start_at=start_at,
        topic_root=topic_root,
        output_format=Format.ZIGBEE2MQTT,
        speed=100,
    )
    assert report.acknowledged == len(planned)
    door = f"{topic_root}/door-b1-u1"
    wait_for(lambda: any(m.topic == f"{topic_root}/bridge/state" and b"offline" in m.payload
                         for m in subscriber.snapshot()), 10, "bridge offline")  # fmt: skip
    payloads = [json.loads(m.payload) for m in subscriber.snapshot() if m.topic == door]
    assert payloads
    assert all(isinstance(p["contact"], bool) and "linkquality" in p for p in payloads)
    availability = [m for m in subscriber.snapshot() if m.topic == f"{door}/availability"]
    assert [json.loads(m.payload) for m in availability] == [{"state": "online"}]
