"""End to end: simulator → Mosquitto → gateway → webhook receiver + API, all real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.runtime.broker import LocalBroker
from tests.support import (
    REPO,
    GatewayProcess,
    Publisher,
    WebhookReceiver,
    door,
    fast_rules,
    wait_until,
)

pytestmark = pytest.mark.integration

DEMO_SITE = REPO / "gateway" / "defaults" / "site.demo.yaml"


def test_shipped_demo_site_and_roster_are_what_the_simulator_generates_for_seed_7(
    tmp_path: Path,
) -> None:
    out, roster = tmp_path / "site.yaml", tmp_path / "roster.yaml"
    argv = ["site", "--seed", "7", "--out", str(out), "--roster", str(roster)]
    subprocess.run(
        [sys.executable, "-m", "simulator", *argv],
        check=True,
        cwd=REPO,
        timeout=30,
    )
    assert out.read_text(encoding="utf-8") == DEMO_SITE.read_text(encoding="utf-8")
    shipped = REPO / "gateway" / "defaults" / "roster.demo.yaml"
    assert roster.read_text(encoding="utf-8") == shipped.read_text(encoding="utf-8")


@pytest.mark.long
def test_simulated_door_left_open_reaches_the_webhook_and_the_api_and_people_close_it(
    broker: LocalBroker,
    topic_root: str,
    receiver: WebhookReceiver,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    hold_s = 2.0
    gw = gateways(
        broker.port,
        topic_root,
        rules_file=fast_rules(tmp_path, hold_s=hold_s),
        webhooks=[{"name": "ops", "url": receiver.url}],
    )
    truth = tmp_path / "truth.jsonl"
    options = {
        "--site": DEMO_SITE,
        "--host": "127.0.0.1",
        "--port": broker.port,
        "--topic-root": topic_root,
        "--seed": 11,
        "--incident": "door_left_open@1:5:door-b2-u1",
        "--day-hold-s": hold_s,
        "--night-hold-s": hold_s,
        "--max-ordinary-open-s": 1,  # ordinary traffic never holds a door for 2 s
        # the fast rules have no door_forced_at_night: the simulator's truth must not
        # expect it when the test runs at night (an empty quiet window)
        "--quiet-hours": "00:00-00:00",
        "--rate-scale": 200,  # busy doors, so the run has traffic to get right
        "--heartbeat-s": 2,
        "--duration-s": 9,
        "--truth": truth,
    }
    argv = [str(x) for pair in options.items() for x in pair]
    simulator = subprocess.Popen(
        [sys.executable, "-m", "simulator", "run", *argv],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    # bad input from a misbehaving device, in the same run
    bad_topic = f"{topic_root}/v1/door-b3-u2/reading"
    for payload in (b"{oops", b'{"kind":"door","fields":{"open":"maybe"}}', b"\xff\xfe"):
        publisher.publish(bad_topic, payload)

    raised = wait_until(lambda: receiver.requests, 15, "the raised webhook")
    body = raised[0].json()
    assert body["event"] == "alert.raised"
    assert body["alert"]["rule"] == "door_left_open"
    assert body["alert"]["device_id"] == "door-b2-u1"
    assert body["alert"]["place"] == "光明社区 / 第1网格 / 2号楼 / 1单元 / 单元门"
    levels = ["district", "street", "community", "grid", "building", "unit"]
    assert [n["level"] for n in body["alert"]["location"]] == levels
    assert body["alert"]["due_at"] >= body["alert"]["opened_at"]

    # the door closes at 6 s: the alert clears and the receiver hears it
    wait_until(lambda: len(receiver.requests) >= 2, 15, "the cleared webhook")
    output, _ = simulator.communicate(timeout=30)
    assert simulator.returncode == 0, output.decode()
    assert receiver.events() == [("alert.raised", "door-b2-u1"), ("alert.cleared", "door-b2-u1")]

    # what the simulator says a correct gateway raises is exactly what it raised
    expected = [json.loads(line) for line in truth.read_text().splitlines()]
    assert [(e["rule"], e["device_id"]) for e in expected] == [("door_left_open", "door-b2-u1")]
    alerts = gw.get("/alerts")
    assert [(a["rule"], a["device_id"]) for a in alerts] == [("door_left_open", "door-b2-u1")]

    # ordinary traffic flowed, the bad messages were counted and did not stop it
    stats = gw.get("/ingest/stats")
    assert stats["accepted"] > 20
    assert {r["reason"]: r["count"] for r in stats["rejections"]} == {
        "malformed_json": 2,
        "invalid_payload": 1,
    }
    doors = gw.get("/doors")
    assert len(doors) == 7
    assert all(d["state"] in ("open", "closed") for d in doors), doors

    # people act on it through the API
    alert_id = alerts[0]["id"]
    assert alerts[0]["state"] == "cleared"
    resolved = gw.post(f"/alerts/{alert_id}/resolve", {"by": "李网格长", "note": "住户已关门"})
    assert resolved.status_code == 200
    assert resolved.json()["state"] == "resolved"
    assert resolved.json()["resolved_by"] == "李网格长"


def test_ack_then_resolve_on_a_live_alert(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    gw = gateways(broker.port, topic_root, rules_file=fast_rules(tmp_path, hold_s=0.5))
    publisher.publish(f"{topic_root}/v1/gate-g1/reading", door(True))
    (alert,) = wait_until(lambda: gw.get("/alerts"), 10, "the gate alert")
    assert alert["place"] == "光明社区 / 第1网格 / 东门"
    assert (
        gw.post(f"/alerts/{alert['id']}/ack", {"by": "李网格长"}).json()["state"] == "acknowledged"
    )
    assert gw.get("/alerts", state="acknowledged")[0]["acknowledged_by"] == "李网格长"
    done = gw.post(f"/alerts/{alert['id']}/resolve", {"by": "李网格长", "note": "门禁损坏，已报修"})
    assert done.json()["state"] == "resolved"
    # the door is still open: the alert stays resolved and is not raised again
    publisher.publish(f"{topic_root}/v1/gate-g1/reading", door(True))
    wait_until(lambda: gw.get("/ingest/stats")["accepted"] == 2, 5, "the second report")
    assert len(gw.get("/alerts")) == 1
