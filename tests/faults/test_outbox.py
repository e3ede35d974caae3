"""A webhook receiver that is down for a while: every delivery still arrives, in order per
alert; what passes the retry limit is a dead letter an admin can list and send again."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gateway.runtime.broker import LocalBroker
from tests.faults.figures import record
from tests.support import GatewayProcess, Publisher, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration

SMOKES = ("smoke-b1-u1", "smoke-b2-u1", "smoke-b3-u1")


def _smoke(is_smoke: bool) -> str:
    return json.dumps({"kind": "smoke", "fields": {"smoke": is_smoke}})


def test_a_receiver_down_for_a_while_gets_every_delivery_in_order_per_alert_once_back(
    broker: LocalBroker,
    topic_root: str,
    receiver: WebhookReceiver,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
) -> None:
    receiver.status = 503
    gw = gateways(broker.port, topic_root, webhooks=[{"name": "ops", "url": receiver.url}])
    # each detector: smoke, clear, smoke again (the same alert reopens), clear again
    for is_smoke in (True, False, True, False):
        for device in SMOKES:
            publisher.publish(f"{topic_root}/v1/{device}/reading", _smoke(is_smoke))
    expected = 4 * len(SMOKES)
    wait_until(lambda: receiver.attempts >= 2 * len(SMOKES), 10, "failed attempts")
    wait_until(lambda: gw.get("/health")["outbox"]["pending"] == expected, 10, "all queued")
    failed_attempts = receiver.attempts
    receiver.status = 200
    wait_until(lambda: len(receiver.requests) >= expected, 20, "every delivery")
    wait_until(lambda: gw.get("/health")["outbox"]["delivered"] == expected, 5, "delivered")

    per_alert: dict[int, list[str]] = {}
    for r in receiver.requests:
        per_alert.setdefault(r.json()["alert"]["id"], []).append(r.json()["event"])
    ordered = ["alert.raised", "alert.cleared", "alert.raised", "alert.cleared"]
    assert list(per_alert.values()) == [ordered] * len(SMOKES)
    keys = [r.headers["idempotency-key"] for r in receiver.requests]
    assert len(set(keys)) == len(keys) == expected
    assert gw.get("/health")["outbox"]["dead"] == 0
    record(
        "receiver_down_then_back",
        deliveries=expected,
        failed_attempts_while_down=failed_attempts,
        arrived=len(receiver.requests),
        out_of_order=sum(events != ordered for events in per_alert.values()),
        duplicate_idempotency_keys=len(keys) - len(set(keys)),
        lost=expected - len(receiver.requests),
    )


def test_deliveries_past_the_retry_limit_are_dead_letters_an_admin_can_send_again(
    broker: LocalBroker,
    topic_root: str,
    receiver: WebhookReceiver,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
) -> None:
    receiver.status = 500
    gw = gateways(
        broker.port,
        topic_root,
        webhooks=[{"name": "ops", "url": receiver.url}],
        extra_env={"GRIDGATE_OUTBOX__MAX_ATTEMPTS": "3"},
    )
    for device in SMOKES[:2]:
        publisher.publish(f"{topic_root}/v1/{device}/reading", _smoke(True))
    dead = wait_until(lambda: _at_least(gw.get("/outbox/dead"), 2), 15, "two dead letters")
    assert receiver.attempts == 6  # 3 tries each, then no more
    assert {d["attempts"] for d in dead} == {3}
    assert all("500" in d["error"] for d in dead)
    assert httpx.get(gw.base_url + "/outbox/dead").status_code == 401

    receiver.status = 200
    for letter in dead:
        retried = gw.call("POST", f"/outbox/{letter['id']}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json() == {"id": letter["id"], "state": "pending"}
    wait_until(lambda: len(receiver.requests) == 2, 10, "the retried deliveries")
    wait_until(lambda: gw.get("/outbox/dead") == [], 5, "no dead letter left")
    again = gw.call("POST", f"/outbox/{dead[0]['id']}/retry")
    assert again.status_code == 409  # delivered: never sent twice
    assert gw.call("POST", "/outbox/999999/retry").status_code == 404
    assert sorted(r.json()["alert"]["device_id"] for r in receiver.requests) == list(SMOKES[:2])
    record(
        "dead_letters",
        max_attempts=3,
        attempts_made=6,
        dead_letters=len(dead),
        retried_and_delivered=len(receiver.requests),
    )


def _at_least(items: list[dict[str, Any]], n: int) -> list[dict[str, Any]] | None:
    return items if len(items) >= n else None
