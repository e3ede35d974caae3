"""No reading lost or applied twice, no alert missed or duplicated, when the broker
restarts or the gateway is killed in the middle of a stream."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.broker import LocalBroker, free_port
from tests.faults.figures import record
from tests.support import GatewayProcess, WebhookReceiver, fast_rules, wait_until

pytestmark = pytest.mark.integration

DOORS = [f"door-b{b}-u{u}" for b in (1, 2, 3) for u in (1, 2)]
# the gate alerts after 3 s; the streamed unit doors flip every few ms and never alert
GATE_RULES = """\
rules:
  - id: gate_left_open
    when: held
    kind: door
    field: open
    equals: true
    hold_s: 3
    scope: {devices: [gate-g1]}
    title: {zh: 大门未关, en: Gate left open}
  - id: smoke_detected
    when: immediate
    kind: smoke
    field: smoke
    equals: true
    severity: critical
    title: {zh: 烟雾报警, en: Smoke detected}
"""


class Stream:
    """A QoS 1 publisher in its own thread: `count` door readings with unique event times,
    the door state alternating, paced so a fault lands in the middle."""

    def __init__(self, port: int, topic_root: str, count: int, pace_s: float = 0.01) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"stream-{free_port()}")
        self.client.max_queued_messages_set(0)  # queue everything while the broker is away
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_until(self.client.is_connected, 5, "the publisher to connect")
        self.topic_root = topic_root
        self.count = count
        self.pace_s = pace_s
        self.sent = 0
        self.last: dict[str, bool] = {}
        self.infos: list[mqtt.MQTTMessageInfo] = []
        self.start_at = datetime.now(UTC)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for i in range(self.count):
            device = DOORS[i % len(DOORS)]
            is_open = (i // len(DOORS)) % 2 == 0
            event_at = self.start_at + timedelta(milliseconds=i)
            deadline = time.monotonic() + 30
            while not self.client.is_connected() and time.monotonic() < deadline:
                time.sleep(0.05)  # the broker is away: hold the reading, as a device would
            body = {"kind": "door", "event_at": event_at.isoformat(), "fields": {"open": is_open}}
            info = self.client.publish(
                f"{self.topic_root}/v1/{device}/reading", json.dumps(body), qos=1
            )
            self.infos.append(info)
            self.last[device] = is_open
            self.sent += 1
            time.sleep(self.pace_s)

    def all_acknowledged(self) -> bool:
        return len(self.infos) == self.count and all(
            i.rc == 0 and i.is_published() for i in self.infos
        )

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_broker_restart_mid_stream_loses_nothing_and_applies_nothing_twice(
    own_broker: LocalBroker,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    gw = gateways(own_broker.port, topic_root, rules_file=fast_rules(tmp_path, hold_s=3600))
    stream = Stream(own_broker.port, topic_root, count=300)
    stream.thread.start()
    try:
        wait_until(lambda: stream.sent >= 100, 10, "a third of the stream")
        own_broker.stop()  # in-flight readings are resent; the rest wait in the publisher
        down_at = time.monotonic()
        wait_until(lambda: time.monotonic() - down_at > 1.5, 5, "the broker to stay down")
        own_broker.start()
        stream.thread.join(timeout=30)
        wait_until(stream.all_acknowledged, 30, "the broker to take every reading")
        stats = wait_until(
            lambda: (s := gw.get("/ingest/stats"))["accepted"] >= 300 and s, 30, "all applied"
        )
        wait_until(lambda: gw.get("/health")["status"] == "ok", 10, "health after the restart")
        stats = gw.get("/ingest/stats")
    finally:
        stream.close()
    duplicates = sum(r["count"] for r in stats["rejections"] if r["reason"] == "duplicate")
    other = [r for r in stats["rejections"] if r["reason"] != "duplicate"]
    assert stats["accepted"] == 300  # every reading applied exactly once
    assert other == []
    doors = {d["device_id"]: d["state"] for d in gw.get("/doors")}
    assert all(doors[d] == ("open" if is_open else "closed") for d, is_open in stream.last.items())
    record(
        "broker_restart",
        published=300,
        applied=stats["accepted"],
        redelivered_duplicates_dropped=duplicates,
        lost=300 - stats["accepted"],
    )


def _changes(gw: GatewayProcess) -> int:
    return sum(len(gw.get(f"/devices/{d}/history", limit=200)["changes"]) for d in DOORS)


def test_a_killed_gateway_restores_everything_and_receivers_see_no_duplicate(
    broker: LocalBroker,
    topic_root: str,
    receiver: WebhookReceiver,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    receiver.status = 503  # undelivered outbox entries must survive the crash
    rules = tmp_path / "rules.gate.yaml"
    rules.write_text(GATE_RULES, encoding="utf-8")
    gw = gateways(
        broker.port,
        topic_root,
        rules_file=rules,
        webhooks=[{"name": "ops", "url": receiver.url}],
    )
    stream = Stream(broker.port, topic_root, count=240, pace_s=0.01)
    # one door opens for good before the crash: its alert falls due while the gateway is dead
    opened_at = datetime.now(UTC)
    held = {"kind": "door", "event_at": opened_at.isoformat(), "fields": {"open": True}}
    info = stream.client.publish(f"{topic_root}/v1/gate-g1/reading", json.dumps(held), qos=1)
    info.wait_for_publish(5)
    smoke = {"kind": "smoke", "fields": {"smoke": True}}
    stream.client.publish(f"{topic_root}/v1/smoke-b1-u1/reading", json.dumps(smoke), qos=1)
    wait_until(lambda: receiver.attempts >= 1, 10, "the smoke webhook failing")
    stream.thread.start()
    try:
        wait_until(lambda: stream.sent >= 80, 10, "a third of the stream")
        assert gw.stop(signal.SIGKILL) == -signal.SIGKILL
        killed_at = datetime.now(UTC)
        wait_until(lambda: stream.sent >= 160, 10, "readings while the gateway is dead")
        wait_until(lambda: datetime.now(UTC) >= opened_at + timedelta(seconds=3.5), 10, "due")
        receiver.status = 200
        gw.start()
        restarted_at = datetime.now(UTC)
        stream.thread.join(timeout=30)
        wait_until(stream.all_acknowledged, 30, "the broker to take every reading")
        # every reading flips its door: each one applied once is one state change
        wait_until(lambda: _changes(gw) >= 240, 30, "every reading applied")
        alerts = wait_until(
            lambda: a if len(a := gw.get("/alerts")) >= 2 else None, 10, "both alerts"
        )
        wait_until(lambda: len(receiver.requests) >= 2, 10, "both webhooks")
    finally:
        stream.close()
    applied = _changes(gw)
    assert applied == 240  # none lost, none applied twice, across the kill
    by_rule = {a["rule"]: a for a in alerts}
    assert set(by_rule) == {"gate_left_open", "smoke_detected"}
    gate = by_rule["gate_left_open"]
    assert gate["device_id"] == "gate-g1"
    raised_at = datetime.fromisoformat(gate["raised_at"])
    assert killed_at < datetime.fromisoformat(gate["due_at"]) < restarted_at
    assert raised_at - restarted_at < timedelta(seconds=5)  # right after start
    keys = [r.headers["idempotency-key"] for r in receiver.requests]
    assert len(keys) == len(set(keys))
    assert sorted(r.json()["alert"]["rule"] for r in receiver.requests) == [
        "gate_left_open",
        "smoke_detected",
    ]
    doors = {d["device_id"]: d["state"] for d in gw.get("/doors")}
    assert all(doors[d] == ("open" if is_open else "closed") for d, is_open in stream.last.items())
    assert doors["gate-g1"] == "open"
    record(
        "gateway_kill_9",
        published=242,
        stream_readings_applied=applied,
        stream_readings_lost=240 - applied,
        alerts=len(alerts),
        duplicate_webhooks=len(keys) - len(set(keys)),
        alert_due_while_down_raised_after_start_s=round(
            (raised_at - restarted_at).total_seconds(), 3
        ),
    )
