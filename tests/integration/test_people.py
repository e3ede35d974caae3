"""People, tokens, scoping, dispatch to the on-duty, escalation, action links, SSE, KPIs:
a real gateway with a roster, a real broker and real webhook receivers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from gateway.runtime.broker import LocalBroker, free_port
from tests.support import REPO, EventStream, GatewayProcess, Publisher, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration

FIXTURES = REPO / "tests" / "fixtures"
SMOKE = '{"kind":"smoke","fields":{"smoke":true}}'


@pytest.fixture
def people_hook() -> Iterator[WebhookReceiver]:
    instance = WebhookReceiver(port=free_port())
    instance.start()
    yield instance
    instance.stop()


def _start(
    gateways: Callable[..., GatewayProcess],
    broker: LocalBroker,
    topic_root: str,
    people_hook: WebhookReceiver,
    tmp_path: Path,
    **times: float,
) -> GatewayProcess:
    env_times = {
        "critical": {
            "ack_within_s": times.get("ack", 600),
            "resolve_within_s": times.get("resolve", 3600),
            "reminder_first_s": times.get("reminder", 600),
            "reminder_max_s": times.get("reminder_max", 600),
        }
    }
    gw = gateways(
        broker.port,
        topic_root,
        site_file=FIXTURES / "site.two-grids.yaml",
        webhooks=[{"name": "people-hook", "url": people_hook.url}],
        extra_env={
            "GRIDGATE_ROSTER_FILE": str(FIXTURES / "roster.two-grids.yaml"),
            "GRIDGATE_ESCALATION__TIMES": json.dumps(env_times),
        },
    )
    return gw


def _token(gw: GatewayProcess, person_id: str) -> str:
    response = gw.post(f"/people/{person_id}/tokens", {"label": "test"})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def _dispatches(hook: WebhookReceiver) -> list[dict[str, object]]:
    """Bodies addressed to people (they carry recipients)."""
    return [r.json() for r in hook.requests if "recipients" in r.json()]


def test_a_worker_sees_and_acts_only_inside_their_grid(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
    people_hook: WebhookReceiver,
    tmp_path: Path,
) -> None:
    gw = _start(gateways, broker, topic_root, people_hook, tmp_path)
    mine, other = _token(gw, "w-g1"), _token(gw, "w-g2")
    publisher.publish(f"{topic_root}/v1/smoke-b1-u1/reading", SMOKE)
    (alert,) = wait_until(lambda: gw.get("/alerts"), 10, "the smoke alert")

    assert [a["id"] for a in gw.call("GET", "/alerts", token=mine).json()] == [alert["id"]]
    assert gw.call("GET", "/alerts", token=other).json() == []
    # outside their grids an alert id answers as one that does not exist: nothing to probe
    for method, path in (("GET", "/alerts/{}"), ("POST", "/alerts/{}/ack")):
        outside = gw.call(method, path.format(alert["id"]), token=other, json={})
        missing = gw.call(method, path.format(alert["id"] + 1000), token=other, json={})
        assert outside.status_code == missing.status_code == 404
        unknown = missing.text.replace(str(alert["id"] + 1000), str(alert["id"]))
        assert outside.text == unknown  # the same words, its own id in them
    # a token in the query only where a header cannot be set (EventSource: /events)
    query = httpx.get(gw.base_url + "/alerts", params={"access_token": mine})
    assert query.status_code == 401
    doors = gw.call("GET", "/doors", token=other).json()
    assert [d["device_id"] for d in doors] == ["door-b2-u1"]
    assert httpx.get(gw.base_url + "/alerts").status_code == 401
    bad = {"Authorization": "Bearer gg_not-a-token"}
    assert httpx.get(gw.base_url + "/alerts", headers=bad).status_code == 401
    assert gw.call("GET", "/ingest/stats", token=mine).status_code == 403
    assert gw.call("POST", "/devices", token=mine, json={}).status_code in (403, 422)

    acked = gw.post(f"/alerts/{alert['id']}/ack", {}, token=mine)
    assert acked.status_code == 200
    assert acked.json()["acknowledged_by"] == "w-g1"
    assert gw.call("GET", "/people/me", token=mine).json()["name"] == "王芳"

    # revoked tokens stop working at once
    assert gw.call("DELETE", "/people/w-g2/tokens").json() == {"revoked": 1}
    assert gw.call("GET", "/alerts", token=other).status_code == 401


def test_an_alert_goes_to_the_on_duty_worker_and_climbs_the_ladder_when_ignored(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
    people_hook: WebhookReceiver,
    tmp_path: Path,
) -> None:
    gw = _start(
        gateways, broker, topic_root, people_hook, tmp_path, ack=1.5, reminder=0.5, reminder_max=0.5
    )
    publisher.publish(f"{topic_root}/v1/smoke-b1-u1/reading", SMOKE)
    first = wait_until(lambda: _dispatches(people_hook), 10, "the dispatch")[0]
    assert first["event"] == "alert.raised"
    assert [r["person_id"] for r in first["recipients"]] == ["w-g1"]
    alert_id = first["alert"]["id"]

    def climbed() -> dict[str, object] | None:
        detail: dict[str, object] = gw.get(f"/alerts/{alert_id}")
        return detail if detail["escalation_level"] == 3 and detail["is_overdue"] else None

    detail = wait_until(climbed, 15, "escalation to the street level")
    actions = [h["action"] for h in detail["history"]]  # type: ignore[attr-defined]
    assert actions[:2] == ["raise", "dispatch"]
    assert "remind" in actions
    assert actions.count("escalate") == 3

    def told() -> list[tuple[object, tuple[str, ...]]]:
        return [
            (b["event"], tuple(r["person_id"] for r in b["recipients"]))  # type: ignore[attr-defined]
            for b in _dispatches(people_hook)
        ]

    # recorded in the store first, delivered by the outbox a moment later
    wait_until(
        lambda: [e for e, _ in told()].count("alert.escalated") >= 3, 10, "three escalations"
    )
    escalations = [who for event, who in told() if event == "alert.escalated"]
    assert escalations == [("l-g1",), ("c-c1",), ("s-s1",)]
    assert ("alert.reminded", ("w-g1",)) in told()
    assert gw.get("/alerts", overdue="true")[0]["id"] == alert_id

    # nobody on duty in g2 (an empty shift, no leader): straight to the community
    publisher.publish(f"{topic_root}/v1/smoke-b2-u1/reading", SMOKE)
    g2 = wait_until(
        lambda: [b for b in _dispatches(people_hook) if b["alert"]["device_id"] == "smoke-b2-u1"],  # type: ignore[index]
        10,
        "the g2 dispatch",
    )
    assert [r["person_id"] for r in g2[0]["recipients"]] == ["c-c1"]  # type: ignore[index]


def test_a_signed_link_lets_that_person_act_on_that_alert_only(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
    people_hook: WebhookReceiver,
    tmp_path: Path,
) -> None:
    gw = _start(gateways, broker, topic_root, people_hook, tmp_path)
    publisher.publish(f"{topic_root}/v1/smoke-b1-u1/reading", SMOKE)
    body = wait_until(lambda: _dispatches(people_hook), 10, "the dispatch")[0]
    link = str(body["link"])
    assert link.startswith(gw.base_url + "/a/")
    page = httpx.get(link)
    assert page.status_code == 200
    assert "烟雾报警" in page.text
    assert "王芳" in page.text

    token = link.rsplit("/", 1)[1]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert httpx.post(f"{gw.base_url}/a/{forged}/ack").status_code == 403
    acked = httpx.post(link + "/ack")
    assert acked.status_code == 200
    assert acked.json()["acknowledged_by"] == "w-g1"
    done = httpx.post(link + "/resolve", json={"resolution": "false_alarm", "note": "测试"})
    assert done.json()["state"] == "resolved"
    assert done.json()["resolution"] == "false_alarm"

    report = gw.get("/kpis")
    (g1,) = report["nodes"]
    assert (g1["node_id"], g1["raised"], g1["acknowledged"], g1["resolved"]) == ("g1", 1, 1, 1)
    assert g1["acknowledged_in_time"] == 1
    assert g1["resolution_rate"] == 1.0

    # revoking the person's tokens ends the links issued to them before
    added = {"device_id": "smoke-b1-u9", "kind": "smoke", "node_id": "b1-u1"}
    assert gw.post("/devices", added).status_code == 201
    publisher.publish(f"{topic_root}/v1/smoke-b1-u9/reading", SMOKE)
    second = wait_until(lambda: _dispatches(people_hook)[1:], 10, "the second dispatch")[0]
    assert httpx.get(str(second["link"])).status_code == 200
    assert gw.call("DELETE", "/people/w-g1/tokens").status_code == 200
    assert httpx.get(str(second["link"])).status_code == 403
    refused = httpx.post(str(second["link"]) + "/ack")
    assert refused.status_code == 403
    assert "revoked" in refused.json()["detail"]


def test_the_live_stream_is_scoped_and_resumable(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
    people_hook: WebhookReceiver,
    tmp_path: Path,
) -> None:
    gw = _start(gateways, broker, topic_root, people_hook, tmp_path)
    mine, other = _token(gw, "w-g1"), _token(gw, "w-g2")
    stream_mine, stream_other = EventStream(gw, "/events", mine), EventStream(gw, "/events", other)
    seen_mine, seen_other = stream_mine.events, stream_other.events
    publisher.publish(f"{topic_root}/v1/smoke-b1-u1/reading", SMOKE)
    wait_until(lambda: any(e.get("action") == "raise" for e in seen_mine), 10, "the raise event")
    publisher.publish(f"{topic_root}/v1/smoke-b2-u1/reading", SMOKE)
    wait_until(
        lambda: any(e.get("alert", {}).get("device_id") == "smoke-b2-u1" for e in seen_other),
        10,
        "the g2 event on the g2 stream",
    )
    stream_mine.close()
    stream_other.close()
    assert {e["event"] for e in seen_mine + seen_other} == {"alert"}
    assert {e["alert"]["device_id"] for e in seen_mine} == {"smoke-b1-u1"}
    assert {e["alert"]["device_id"] for e in seen_other} == {"smoke-b2-u1"}

    # resume after the first event: the later ones of my scope, and nothing else
    first_id = int(seen_mine[0]["id"])
    resumed = EventStream(gw, "/events", mine, **{"Last-Event-ID": "0"})
    wait_until(lambda: len(resumed.events) >= len(seen_mine), 10, "the replayed events")
    resumed.close()
    assert [e["id"] for e in resumed.events][: len(seen_mine)] == [e["id"] for e in seen_mine]
    assert first_id == resumed.events[0]["id"]
    publisher.publish(
        f"{topic_root}/v1/smoke-b1-u1/reading", '{"kind":"smoke","fields":{"smoke":false}}'
    )


def test_people_added_through_the_api_act_in_their_grid_and_are_kept(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
    people_hook: WebhookReceiver,
    tmp_path: Path,
) -> None:
    gw = _start(gateways, broker, topic_root, people_hook, tmp_path)
    person = {
        "id": "w-g2-b",
        "name": "刘洋",
        "role": "grid_worker",
        "phone": "13800000009",
        "nodes": ["g2"],
        "duty": [],  # no shifts: always on duty
        "channels": ["people-hook"],
    }
    created = gw.post("/people", person)
    assert created.status_code == 201, created.text
    assert gw.post("/people", person).status_code == 409
    assert gw.post("/people", {**person, "id": "x", "nodes": ["g9"]}).status_code == 422
    from_file = gw.call("PUT", "/people/w-g1", json={**person, "id": "w-g1"})
    assert from_file.status_code == 409

    publisher.publish(f"{topic_root}/v1/smoke-b2-u1/reading", SMOKE)
    body = wait_until(lambda: _dispatches(people_hook), 10, "the dispatch")[0]
    assert [r["person_id"] for r in body["recipients"]] == ["w-g2-b"]  # on duty in g2

    gw.stop()
    gw.start()
    token = _token(gw, "w-g2-b")
    assert len(gw.call("GET", "/alerts", token=token).json()) == 1
    assert gw.call("DELETE", "/people/w-g2-b").status_code == 204
    assert gw.call("GET", "/alerts", token=token).status_code == 401
