"""No reading lost or applied twice, no alert missed or duplicated, when the broker
restarts or the gateway is killed in the middle of a stream."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.runtime.broker import LocalBroker
from tests.faults.figures import record
from tests.faults.stream import DoorStream, applied
from tests.support import GatewayProcess, WebhookReceiver, fast_rules, wait_until

pytestmark = pytest.mark.integration

# the gate's door alone is held (3 s); the stream's doors flip every few ms and raise nothing
GATE_AND_SMOKE_RULES = """\
rules:
  - id: door_left_open
    when: held
    kind: door
    field: open
    equals: true
    hold_s: 3
    scope: {devices: [gate-g1]}
    severity: warning
    title: {zh: 门未关闭, en: Door left open}
  - id: smoke_detected
    when: immediate
    kind: smoke
    field: smoke
    equals: true
    severity: critical
    title: {zh: 烟雾报警, en: Smoke detected}
"""


def _redelivered(stats: dict[str, object]) -> int:
    """Readings refused because they were applied already (a redelivery)."""
    rejections: list[dict[str, object]] = stats["rejections"]  # type: ignore[assignment]
    return sum(int(r["count"]) for r in rejections if r["reason"] == "duplicate")  # type: ignore[call-overload]


def _at_least(items: list[dict[str, Any]], n: int) -> list[dict[str, Any]] | None:
    return items if len(items) >= n else None


def test_a_broker_restart_mid_stream_loses_no_reading_and_applies_none_twice(
    own_broker: LocalBroker,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    count = 600
    gw = gateways(own_broker.port, topic_root, rules_file=fast_rules(tmp_path, hold_s=3600))
    database = Path(gw.env["GRIDGATE_STATE_DIR"]) / "gridgate.db"
    stream = DoorStream(own_broker.port, topic_root, count)
    try:
        stream.publish(200)
        wait_until(lambda: applied(database)[0] >= 50, 10, "the stream to be under way")
        stream.publish(300)  # a burst in flight as the broker goes
        own_broker.stop()
        stream.publish(500)  # published while the broker is down: kept by the publisher
        own_broker.start()  # same port, same persistence file
        stream.publish(count)
        wait_until(stream.all_acknowledged, 30, "the broker to take every reading")
        wait_until(lambda: applied(database)[0] >= count, 30, "every reading applied")
        wait_until(lambda: gw.call("GET", "/health").status_code == 200, 10, "health")
    finally:
        stream.close()
    total, twice = applied(database)
    stats = gw.get("/ingest/stats")
    assert (total, twice) == (count, 0)
    assert stats["accepted"] == count
    assert stats["received"] == count + _redelivered(stats)
    assert {r["reason"] for r in stats["rejections"]} <= {"duplicate"}
    doors = {d["device_id"]: d["state"] for d in gw.get("/doors")}
    assert {d: doors[d] for d in stream.last_states()} == stream.last_states()
    assert gw.get("/alerts") == []
    record(
        "broker_restart",
        published=count,
        published_while_broker_down=200,
        applied=total,
        applied_twice=twice,
        redeliveries_refused=_redelivered(stats),
        lost=count - total,
    )


def test_a_killed_gateway_restores_state_and_fires_what_fell_due_and_sends_nothing_twice(
    broker: LocalBroker,
    topic_root: str,
    receiver: WebhookReceiver,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    count = 400
    rules = tmp_path / "rules.gate.yaml"
    rules.write_text(GATE_AND_SMOKE_RULES, encoding="utf-8")
    receiver.status = 503  # the smoke alert's webhook waits in the outbox across the crash
    gw = gateways(
        broker.port, topic_root, rules_file=rules, webhooks=[{"name": "ops", "url": receiver.url}]
    )
    database = Path(gw.env["GRIDGATE_STATE_DIR"]) / "gridgate.db"
    stream = DoorStream(broker.port, topic_root, count)
    try:
        opened_at = datetime.now(UTC)
        gate = {"kind": "door", "event_at": opened_at.isoformat(), "fields": {"open": True}}
        stream.client.publish(f"{topic_root}/v1/gate-g1/reading", json.dumps(gate), qos=1)
        smoke = {"kind": "smoke", "fields": {"smoke": True}}
        stream.client.publish(f"{topic_root}/v1/smoke-b1-u1/reading", json.dumps(smoke), qos=1)
        wait_until(lambda: receiver.attempts >= 1, 10, "the smoke webhook failing")
        stream.publish(150)
        wait_until(lambda: applied(database)[0] >= 30, 10, "the stream to be under way")
        stream.publish(250)  # a burst in flight as the gateway dies
        assert gw.stop(signal.SIGKILL) == -signal.SIGKILL
        killed_at = datetime.now(UTC)
        stream.publish(count)  # published while the gateway is dead: queued by the broker
        wait_until(stream.all_acknowledged, 10, "the broker to take every reading")
        wait_until(lambda: datetime.now(UTC) > opened_at + timedelta(seconds=3.5), 10, "due")
        receiver.status = 200
        restarted_at = datetime.now(UTC)
        gw.start()
        ready_at = datetime.now(UTC)  # healthy: connected and subscribed
        wait_until(lambda: applied(database)[0] >= count, 30, "every reading applied")
        alerts = wait_until(lambda: _at_least(gw.get("/alerts"), 2), 10, "both alerts")
        wait_until(lambda: gw.get("/health")["outbox"].get("pending", 0) == 0, 10, "outbox empty")
    finally:
        stream.close()
    total, twice = applied(database)
    assert (total, twice) == (count, 0)
    by_rule = {a["rule"]: a for a in alerts}
    assert sorted(by_rule) == ["door_left_open", "smoke_detected"]
    assert len(alerts) == 2
    held = by_rule["door_left_open"]
    assert held["device_id"] == "gate-g1"
    due_at = datetime.fromisoformat(held["due_at"])
    raised_at = datetime.fromisoformat(held["raised_at"])
    assert killed_at < due_at < restarted_at  # fell due while the gateway was dead
    # right after start: the process's start is its own (seconds on a busy machine), the
    # alert comes in the first steps once the gateway is up
    assert restarted_at < raised_at < ready_at + timedelta(seconds=3)
    late_s = (raised_at - restarted_at).total_seconds()
    keys = [r.headers["idempotency-key"] for r in receiver.requests]
    assert sorted(r.json()["alert"]["rule"] for r in receiver.requests) == sorted(by_rule)
    assert len(keys) == len(set(keys))
    doors = {d["device_id"]: d["state"] for d in gw.get("/doors")}
    assert {d: doors[d] for d in stream.last_states()} == stream.last_states()
    assert doors["gate-g1"] == "open"
    record(
        "gateway_kill_9",
        published=count + 2,
        published_while_gateway_dead=count - 250,
        applied=total,
        applied_twice=twice,
        alerts=len(alerts),
        webhooks_accepted=len(keys),
        duplicate_idempotency_keys=len(keys) - len(set(keys)),
        due_while_dead_raised_after_start_s=round(late_s, 3),
    )
