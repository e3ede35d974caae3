"""The device registry through the API, with a real gateway, broker and SQLite."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.runtime.broker import LocalBroker
from tests.support import GatewayProcess, Publisher, door, wait_until

pytestmark = pytest.mark.integration


def test_a_device_added_through_the_api_is_used_at_once_and_kept_across_restarts(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
) -> None:
    gw = gateways(broker.port, topic_root)
    topic = f"{topic_root}/v1/door-new-1/reading"
    publisher.publish(topic, door(True))
    publisher.publish(topic, door(False))

    (seen,) = wait_until(lambda: gw.get("/devices/unregistered"), 5, "the unknown sender")
    assert seen["device_id"] == "door-new-1"
    assert seen["count"] == 2
    assert seen["topic"] == topic
    assert seen["adapter"] == "native"
    assert '"open": false' in seen["last_payload"]

    created = gw.post(
        "/devices", {"device_id": "door-new-1", "kind": "door", "node_id": "b3-u2", "name": "后门"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["mount"] == "unit_door"
    assert created.json()["place"] == "光明社区 / 第1网格 / 3号楼 / 2单元 / 后门"
    assert gw.get("/devices/unregistered") == []

    publisher.publish(topic, door(True))
    wait_until(
        lambda: gw.get("/devices/door-new-1")["fields"].get("open") is True, 5, "the reading"
    )
    assert "door-new-1" in {d["device_id"] for d in gw.get("/doors", state="open")}

    gw.stop()
    gw.start()
    device = gw.get("/devices/door-new-1")
    assert device["source"] == "api"
    assert device["node_id"] == "b3-u2"


def test_the_registry_refuses_what_cannot_be_and_says_why(
    broker: LocalBroker, topic_root: str, gateways: Callable[..., GatewayProcess]
) -> None:
    gw = gateways(broker.port, topic_root)
    body = {"device_id": "door-x", "kind": "door", "node_id": "b1-u1"}
    assert gw.post("/devices", body).status_code == 201
    again = gw.post("/devices", body)
    assert again.status_code == 409
    assert "exists" in again.json()["detail"]

    site_device = {"device_id": "door-b1-u1", "kind": "door", "node_id": "b1-u1"}
    put = gw.call("PUT", "/devices/door-b1-u1", json=site_device)
    assert put.status_code == 409
    assert "site file" in put.json()["detail"]
    assert gw.call("DELETE", "/devices/door-b1-u1").status_code == 409

    on_building = gw.post("/devices", {"device_id": "door-y", "kind": "door", "node_id": "b1"})
    assert on_building.status_code == 422
    assert "unit" in on_building.json()["detail"]
    nowhere = gw.post("/devices", {"device_id": "door-z", "kind": "door", "node_id": "b9"})
    assert nowhere.status_code == 422
    assert "'b9'" in nowhere.json()["detail"]
    assert gw.post("/devices", {**body, "device_id": "bad id!"}).status_code == 422
    assert gw.post("/devices", {**body, "kind": "toaster"}).status_code == 422

    assert gw.call("DELETE", "/devices/door-x").status_code == 204
    assert gw.call("DELETE", "/devices/door-x").status_code == 404
    assert gw.call("GET", "/devices/door-x").status_code == 404


def test_csv_import_is_all_or_nothing_with_the_line_of_each_problem(
    broker: LocalBroker, topic_root: str, gateways: Callable[..., GatewayProcess]
) -> None:
    gw = gateways(broker.port, topic_root)
    headers = {"Content-Type": "text/csv"}
    bad = (
        "device_id,kind,node_id,name\n"
        "door-c1,door,b1-u1,东侧门\n"
        "door-c2,toaster,b1-u1,\n"
        "door-c3,door,b1,\n"
        "door-c1,door,b1-u2,\n"
    )
    refused = gw.call("POST", "/devices/import", content=bad.encode(), headers=headers)
    assert refused.status_code == 422
    problems = {p["line"]: p["reason"] for p in refused.json()["problems"]}
    assert set(problems) == {3, 4, 5}
    assert "toaster" in problems[3]
    assert "twice" in problems[5]
    assert gw.call("GET", "/devices/door-c1").status_code == 404

    good = "device_id,kind,node_id,name\ndoor-c1,door,b1-u1,东侧门\nsmoke-c2,smoke,b2,\n"
    done = gw.call("POST", "/devices/import", content=good.encode(), headers=headers)
    assert done.status_code == 200, done.text
    assert done.json() == {"imported": 2, "problems": []}
    assert gw.get("/devices/smoke-c2")["mount"] == "building"
    assert len(gw.get("/devices", kind="smoke")) == 4
