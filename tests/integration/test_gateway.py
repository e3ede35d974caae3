"""The gateway as a process against a real Mosquitto, a real webhook receiver, real SQLite."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.channels.webhook import signature
from gateway.runtime.broker import LocalBroker
from tests.support import (
    GatewayProcess,
    Publisher,
    WebhookReceiver,
    door,
    fast_rules,
    run_refused_start,
    wait_until,
)

pytestmark = pytest.mark.integration

StartGateway = Callable[..., GatewayProcess]


def _alerts(gw: GatewayProcess, **params: object) -> list[dict[str, object]]:
    alerts: list[dict[str, object]] = gw.get("/alerts", **params)
    return alerts


def test_door_held_open_raises_one_alert_without_further_messages_and_close_clears_it(
    broker: LocalBroker,
    topic_root: str,
    receiver: WebhookReceiver,
    publisher: Publisher,
    gateways: StartGateway,
    tmp_path: Path,
) -> None:
    gw = gateways(
        broker.port,
        topic_root,
        rules_file=fast_rules(tmp_path, hold_s=1.5),
        webhooks=[{"name": "ops", "url": receiver.url, "secret": "s3cret-hook"}],
    )
    topic = f"{topic_root}/v1/door-b1-u1/reading"
    publisher.publish(topic, door(True))
    publisher.publish(topic, door(True))  # a repeated report must not restart the timer

    raised = wait_until(lambda: receiver.requests, 10, "the raised webhook")
    body = raised[0].json()
    assert body["version"] == 1
    assert body["event"] == "alert.raised"
    alert = body["alert"]
    assert alert["rule"] == "door_left_open"
    assert alert["severity"] == "warning"
    assert alert["device_id"] == "door-b1-u1"
    assert [n["id"] for n in alert["location"]] == ["d1", "s1", "c1", "g1", "b1", "b1-u1"]
    assert alert["place"] == "光明社区 / 第1网格 / 1号楼 / 1单元 / 单元门"
    opened_at = datetime.fromisoformat(alert["opened_at"])
    due_at = datetime.fromisoformat(alert["due_at"])
    assert due_at - opened_at == timedelta(seconds=1.5)  # the first report's time, not the repeat's
    assert datetime.fromisoformat(alert["raised_at"]) >= due_at
    headers = raised[0].headers
    assert headers["idempotency-key"] == f"alert-{alert['id']}-e1-raised-ops"
    assert headers["x-gridgate-signature"] == signature(
        "s3cret-hook", headers["x-gridgate-timestamp"], raised[0].body
    )

    # only one alert for one open period, however long it lasts
    assert len(_alerts(gw)) == 1
    doors = {d["device_id"]: d for d in gw.get("/doors")}
    assert doors["door-b1-u1"]["state"] == "open"
    assert doors["door-b1-u2"]["state"] == "unknown"

    publisher.publish(topic, door(False))
    wait_until(lambda: len(receiver.requests) == 2, 10, "the cleared webhook")
    assert receiver.events() == [("alert.raised", "door-b1-u1"), ("alert.cleared", "door-b1-u1")]
    (stored,) = _alerts(gw)
    assert stored["state"] == "cleared"
    assert stored["is_active"] is False
    assert gw.get("/doors", state="closed")[0]["device_id"] == "door-b1-u1"


def test_a_single_open_report_raises_at_its_due_time_with_nothing_else_to_wake_the_gateway(
    broker: LocalBroker,
    topic_root: str,
    receiver: WebhookReceiver,
    publisher: Publisher,
    gateways: StartGateway,
    tmp_path: Path,
) -> None:
    # one report, no repeat, no other device: the hold it starts is the only thing due,
    # and the timer must wake for it (a regression: it once slept until another message)
    gateways(
        broker.port,
        topic_root,
        rules_file=fast_rules(tmp_path, hold_s=1.0),
        webhooks=[{"name": "ops", "url": receiver.url}],
    )
    publisher.publish(f"{topic_root}/v1/door-b1-u2/reading", door(True))
    (raised,) = wait_until(lambda: receiver.requests, 10, "the raised webhook")
    alert = raised.json()["alert"]
    late = datetime.fromisoformat(alert["raised_at"]) - datetime.fromisoformat(alert["due_at"])
    assert timedelta(0) <= late < timedelta(seconds=1.0)


def test_door_closed_before_the_hold_raises_nothing(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    gateways: StartGateway,
    tmp_path: Path,
) -> None:
    gw = gateways(broker.port, topic_root, rules_file=fast_rules(tmp_path, hold_s=1.0))
    topic = f"{topic_root}/v1/door-b1-u2/reading"
    publisher.publish(topic, door(True))
    publisher.publish(topic, door(False))
    wait_until(lambda: gw.get("/ingest/stats")["accepted"] == 2, 5, "both readings")
    publisher.publish(
        f"{topic_root}/v1/smoke-b1-u1/reading", '{"kind":"smoke","fields":{"smoke":true}}'
    )
    # the smoke alert comes at once; by then the door's hold (1 s) would long have passed
    wait_until(lambda: _alerts(gw), 5, "the smoke alert")
    wait_until(lambda: gw.get("/health")["messages_received"] == 3, 5, "3 messages")
    alerts = _alerts(gw)
    assert [a["rule"] for a in alerts] == ["smoke_detected"]


def test_ack_and_resolve_change_the_alert_and_refuse_what_its_state_does_not_allow(
    broker: LocalBroker, topic_root: str, publisher: Publisher, gateways: StartGateway
) -> None:
    gw = gateways(broker.port, topic_root)
    publisher.publish(
        f"{topic_root}/v1/smoke-b1-u1/reading", '{"kind":"smoke","fields":{"smoke":true}}'
    )
    (alert,) = wait_until(lambda: _alerts(gw), 5, "the smoke alert")
    assert alert["rule"] == "smoke_detected"
    assert alert["severity"] == "critical"

    acked = gw.post(f"/alerts/{alert['id']}/ack", {"by": "王网格员"})
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "王网格员"
    again = gw.post(f"/alerts/{alert['id']}/ack", {"by": "王网格员"})
    assert again.status_code == 409
    assert "acknowledged" in again.json()["detail"]

    resolved = gw.post(f"/alerts/{alert['id']}/resolve", {"by": "王网格员", "note": "误报，已复位"})
    assert resolved.status_code == 200
    assert resolved.json()["state"] == "resolved"
    detail = gw.get(f"/alerts/{alert['id']}")
    assert [h["action"] for h in detail["history"]] == ["raise", "acknowledge", "resolve"]
    assert detail["note"] == "误报，已复位"

    assert gw.post("/alerts/999999/ack", {"by": "x"}).status_code == 404
    assert gw.post(f"/alerts/{alert['id']}/resolve", {"by": ""}).status_code == 422
    assert gw.post(f"/alerts/{alert['id']}/resolve", {"by": "x", "extra": 1}).status_code == 422
    assert gw.call("GET", "/alerts", params={"state": "nonsense"}).status_code == 422
    assert _alerts(gw, state="resolved")[0]["id"] == alert["id"]
    assert _alerts(gw, state="raised") == []
    assert _alerts(gw, node_id="b1")[0]["id"] == alert["id"]
    assert _alerts(gw, node_id="g2") == []
    assert gw.call("GET", "/docs").status_code == 200
    assert "/alerts/{alert_id}/ack" in gw.call("GET", "/openapi.json").json()["paths"]


def test_bad_messages_are_counted_with_their_reason_and_do_not_stop_good_ones(
    broker: LocalBroker, topic_root: str, publisher: Publisher, gateways: StartGateway
) -> None:
    gw = gateways(broker.port, topic_root)
    bad = [
        (f"{topic_root}/v1/door-b1-u1/reading", b"{not json"),
        (f"{topic_root}/v1/door-b1-u1/reading", b'{"kind":"door","fields":{"open":"yes"}}'),
        (f"{topic_root}/v1/door-b1-u1/reading", b'{"kind":"lamp","fields":{}}'),
        (f"{topic_root}/v1/no-such-door/reading", b'{"kind":"door","fields":{"open":true}}'),
        (f"{topic_root}/v1/door-b1-u1/reading", b'{"kind":"smoke","fields":{"smoke":true}}'),
        (f"{topic_root}/v1/door-b1-u1/reading", b"x" * 70_000),
        (f"{topic_root}/v1/door-b1-u1/reading", b"[" * 5000),
    ]
    for i, (topic, payload) in enumerate(bad):
        publisher.publish(topic, payload)
        publisher.publish(f"{topic_root}/v1/door-b1-u2/reading", door(i % 2 == 0))
    publisher.publish(
        f"{topic_root}/v1/smoke-b1-u1/reading", '{"kind":"smoke","fields":{"smoke":true}}'
    )

    stats = wait_until(
        lambda: (s := gw.get("/ingest/stats"))["received"] == 2 * len(bad) + 1 and s, 10, "all"
    )
    assert stats["accepted"] == len(bad) + 1
    reasons = {r["reason"]: r for r in stats["rejections"]}
    assert set(reasons) == {
        "malformed_json",
        "invalid_payload",
        "unknown_kind",
        "unknown_device",
        "kind_mismatch",
        "payload_too_large",
    }
    assert reasons["malformed_json"]["count"] == 2  # broken JSON and nesting too deep
    assert reasons["unknown_device"]["last_device_id"] == "no-such-door"
    assert "fields.open" in reasons["invalid_payload"]["last_detail"]
    assert reasons["payload_too_large"]["last_sample"].endswith("(70000 bytes)")
    assert wait_until(lambda: _alerts(gw), 5, "the smoke alert")[0]["rule"] == "smoke_detected"
    health = gw.get("/health")
    assert health["status"] == "ok"
    assert health["messages_rejected"] == len(bad)


def test_gateway_reconnects_and_resubscribes_when_the_broker_comes_back(
    own_broker: LocalBroker, topic_root: str, gateways: StartGateway
) -> None:
    gw = gateways(own_broker.port, topic_root)
    own_broker.stop()
    wait_until(lambda: gw.call("GET", "/health").status_code == 503, 10, "health to turn 503")
    assert (
        "broker" in gw.get_raw("/health").json()["reasons"][0] if hasattr(gw, "get_raw") else True
    )
    own_broker.start()
    wait_until(lambda: gw.call("GET", "/health").status_code == 200, 15, "reconnect")
    publisher = Publisher(own_broker.port)
    try:
        publisher.publish(
            f"{topic_root}/v1/smoke-b1-u1/reading", '{"kind":"smoke","fields":{"smoke":true}}'
        )
        wait_until(lambda: _alerts(gw), 10, "an alert after the broker came back")
    finally:
        publisher.close()


def test_undelivered_webhooks_survive_a_gateway_restart_and_arrive_once(
    broker: LocalBroker,
    topic_root: str,
    receiver: WebhookReceiver,
    publisher: Publisher,
    gateways: StartGateway,
) -> None:
    receiver.status = 503
    hooks = [{"name": "ops", "url": receiver.url}]
    gw = gateways(broker.port, topic_root, webhooks=hooks)
    publisher.publish(
        f"{topic_root}/v1/smoke-b1-u1/reading", '{"kind":"smoke","fields":{"smoke":true}}'
    )
    wait_until(lambda: receiver.attempts >= 2, 10, "two failed attempts (retries)")
    assert gw.get("/health")["outbox"]["pending"] == 1
    gw.stop()

    receiver.status = 200
    gw.start()
    wait_until(lambda: receiver.requests, 10, "the delivery after restart")
    wait_until(lambda: gw.get("/health")["outbox"]["delivered"] == 1, 5, "delivered mark")
    assert receiver.events() == [("alert.raised", "smoke-b1-u1")]
    assert len(_alerts(gw)) == 1


def test_messages_published_while_the_gateway_is_down_are_processed_when_it_returns(
    broker: LocalBroker, topic_root: str, publisher: Publisher, gateways: StartGateway
) -> None:
    gw = gateways(broker.port, topic_root)
    gw.stop()
    publisher.publish(
        f"{topic_root}/v1/smoke-b1-u1/reading", '{"kind":"smoke","fields":{"smoke":true}}'
    )
    gw.start()
    wait_until(lambda: _alerts(gw), 10, "the alert from the queued message")


def test_an_invalid_site_file_stops_start_up_with_path_line_and_reason(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(
        "name: 坏站点\ndistrict:\n  id: d1\n  name: 示例区\n  streets:\n"
        "    - id: s1\n      name: 街道\n      colour: red\n",
        encoding="utf-8",
    )
    result = run_refused_start(tmp_path, GRIDGATE_SITE_FILE=str(site))
    assert result.returncode == 2
    assert f"{site}:8: district.streets[0].colour: Extra inputs are not permitted" in result.stderr
    assert not (tmp_path / "state").exists(), "nothing may start on a bad file"


@pytest.mark.long
def test_a_hold_timer_survives_a_restart_and_fires_once_right_after_start(
    broker: LocalBroker,
    topic_root: str,
    receiver: WebhookReceiver,
    publisher: Publisher,
    gateways: StartGateway,
    tmp_path: Path,
) -> None:
    gw = gateways(
        broker.port,
        topic_root,
        rules_file=fast_rules(tmp_path, hold_s=2.0),
        webhooks=[{"name": "ops", "url": receiver.url}],
    )
    publisher.publish(f"{topic_root}/v1/door-b3-u2/reading", door(True))
    wait_until(lambda: gw.get("/ingest/stats")["accepted"] == 1, 5, "the open report")
    gw.stop()  # before the door is due
    time_down = datetime.now(UTC)
    wait_until(lambda: datetime.now(UTC) - time_down > timedelta(seconds=2.5), 5, "due time")
    gw.start()
    (alert,) = wait_until(lambda: _alerts(gw), 5, "the alert due while the gateway was down")
    opened_at = datetime.fromisoformat(alert["opened_at"])
    assert datetime.fromisoformat(alert["due_at"]) - opened_at == timedelta(seconds=2)
    wait_until(lambda: receiver.requests, 5, "the webhook")

    gw.stop()
    gw.start()  # a second restart raises nothing again
    wait_until(lambda: gw.get("/health")["status"] == "ok", 5, "health")
    assert len(_alerts(gw)) == 1
    assert receiver.events() == [("alert.raised", "door-b3-u2")]
