"""A receiver that is down for a while, a database locked by someone else, a full disk:
nothing is lost, order holds per alert, the database never corrupts, the gateway says
it is unhealthy and recovers."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from gateway.broker import LocalBroker
from tests.faults.figures import record
from tests.support import GatewayProcess, Publisher, WebhookReceiver, door, fast_rules, wait_until

pytestmark = pytest.mark.integration

SMOKE = '{"kind":"smoke","fields":{"smoke":true}}'
CLEAR = '{"kind":"smoke","fields":{"smoke":false}}'
SMOKES = ["smoke-b1-u1", "smoke-b2-u1", "smoke-b3-u1"]


def test_a_receiver_down_for_a_while_gets_everything_in_order_per_alert(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    receiver: WebhookReceiver,
    gateways: Callable[..., GatewayProcess],
) -> None:
    receiver.status = 503
    gateways(broker.port, topic_root, webhooks=[{"name": "ops", "url": receiver.url}])
    for device in SMOKES:
        publisher.publish(f"{topic_root}/v1/{device}/reading", SMOKE)
        publisher.publish(f"{topic_root}/v1/{device}/reading", CLEAR)
    wait_until(lambda: receiver.attempts >= 6, 10, "failed attempts while it is down")
    failed = receiver.attempts
    receiver.status = 200
    wait_until(lambda: len(receiver.requests) == 6, 15, "every delivery once it is back")
    events: dict[str, list[str]] = {}
    for request in receiver.requests:
        body = request.json()
        events.setdefault(body["alert"]["device_id"], []).append(body["event"])
    assert events == {d: ["alert.raised", "alert.cleared"] for d in SMOKES}
    keys = [r.headers["idempotency-key"] for r in receiver.requests]
    assert len(set(keys)) == 6
    record("receiver_down", deliveries=6, failed_attempts_before=failed, lost=0, out_of_order=0)


def test_past_the_retry_limit_a_delivery_is_a_dead_letter_that_can_be_retried(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    receiver: WebhookReceiver,
    gateways: Callable[..., GatewayProcess],
) -> None:
    receiver.status = 500
    gw = gateways(
        broker.port,
        topic_root,
        webhooks=[{"name": "ops", "url": receiver.url}],
        extra_env={"GRIDGATE_OUTBOX__MAX_ATTEMPTS": "2"},
    )
    publisher.publish(f"{topic_root}/v1/smoke-b1-u1/reading", SMOKE)
    (dead,) = wait_until(lambda: gw.get("/outbox/dead"), 10, "the dead letter")
    assert dead["attempts"] == 2
    assert "500" in dead["error"]
    receiver.status = 200
    assert gw.post(f"/outbox/{dead['id']}/retry", {}).status_code == 200
    wait_until(lambda: receiver.requests, 10, "the retried delivery")
    assert gw.get("/outbox/dead") == []
    assert gw.post(f"/outbox/{dead['id']}/retry", {}).status_code == 409  # delivered now


def _integrity(db: Path) -> str:
    with closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def test_a_database_locked_by_another_process_makes_the_gateway_unhealthy_not_lossy(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    gw = gateways(
        broker.port,
        topic_root,
        rules_file=fast_rules(tmp_path, hold_s=3600),
        extra_env={"GRIDGATE_STORE__BUSY_TIMEOUT_S": "0.2"},
    )
    db = tmp_path / "state" / "gridgate.db"
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        for i, device in enumerate(SMOKES):
            publisher.publish(f"{topic_root}/v1/door-b{i + 1}-u1/reading", door(True))
            publisher.publish(f"{topic_root}/v1/{device}/reading", SMOKE)
        health = wait_until(
            lambda: (h := gw.call("GET", "/health")).status_code == 503 and h.json(),
            10,
            "unhealthy",
        )
        assert any("locked" in reason for reason in health["reasons"]), health
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    wait_until(lambda: gw.call("GET", "/health").status_code == 200, 15, "recovery")
    alerts = wait_until(lambda: a if len(a := gw.get("/alerts")) == 3 else None, 10, "3 alerts")
    assert {a["device_id"] for a in alerts} == set(SMOKES)
    doors = {d["device_id"]: d["state"] for d in gw.get("/doors")}
    assert all(doors[f"door-b{i}-u1"] == "open" for i in (1, 2, 3))
    assert _integrity(db) == "ok"
    record("database_locked", readings=6, applied=6, alerts=3, integrity="ok")


def test_a_full_disk_stops_writes_without_corruption_and_a_restart_recovers_everything(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    gw = gateways(broker.port, topic_root, rules_file=fast_rules(tmp_path, hold_s=3600))
    db = tmp_path / "state" / "gridgate.db"
    gw.stop()
    with closing(sqlite3.connect(db)) as conn:
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    gw.env["GRIDGATE_STORE__MAX_PAGES"] = str(pages + 2)  # a disk with two pages left
    gw.start()
    sent = 0
    for round_ in range(30):
        for i, device in enumerate(SMOKES):
            publisher.publish(f"{topic_root}/v1/{device}/reading", SMOKE if round_ % 2 else CLEAR)
            publisher.publish(f"{topic_root}/v1/door-b{i + 1}-u2/reading", door(round_ % 2 == 0))
            sent += 2
        if gw.call("GET", "/health").status_code == 503:
            break
    health = wait_until(
        lambda: (h := gw.call("GET", "/health")).status_code == 503 and h.json(), 15, "unhealthy"
    )
    assert any("full" in reason for reason in health["reasons"]), health
    assert gw.stop() == 0  # stops cleanly even with writes failing
    assert _integrity(db) == "ok"

    del gw.env["GRIDGATE_STORE__MAX_PAGES"]  # space is back
    gw.start()
    last_door = {f"door-b{i + 1}-u2": "open" if (round_ % 2 == 0) else "closed" for i in range(3)}
    wait_until(
        lambda: all(
            d["state"] == last_door[d["device_id"]]
            for d in gw.get("/doors")
            if d["device_id"] in last_door
        ),
        15,
        "the readings that could not be written, redelivered and applied",
    )
    assert gw.call("GET", "/health").status_code == 200
    assert _integrity(db) == "ok"
    record("disk_full", readings_sent=sent, integrity="ok", recovered_after_restart=True)
