"""GET /lifts on the real gateway: each lift with its state and floor, filtered by state
and node, and only the lifts of the grids a person covers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.runtime.broker import LocalBroker
from tests.support import REPO, GatewayProcess, Publisher, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration

FIXTURES = REPO / "tests" / "fixtures"
LEVEL = {"trapped": False, "moving": False, "at_floor": True, "in_service": True, "floor": 1}


def test_lifts_list_their_state_by_building_scoped_to_a_persons_grids(
    broker: LocalBroker,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    receiver: WebhookReceiver,
    publisher: Publisher,
    tmp_path: Path,
) -> None:
    gw = gateways(
        broker.port,
        topic_root,
        webhooks=[{"name": "people-hook", "url": receiver.url}],
        site_file=FIXTURES / "site.two-grids.yaml",
        extra_env={"GRIDGATE_ROSTER_FILE": str(FIXTURES / "roster.two-grids.yaml")},
    )
    reports: dict[str, dict[str, object] | None] = {
        "lift-trapped": {**LEVEL, "trapped": True, "at_floor": False, "floor": 7},
        "lift-between": {**LEVEL, "at_floor": False, "floor": 4},
        "lift-out": {**LEVEL, "in_service": False, "fault_code": "E31"},
        "lift-fine": {**LEVEL, "moving": True, "door_open": False, "floor": 12},
        "lift-silent": None,
    }
    for lift in reports:
        added = gw.post("/devices", {"device_id": lift, "kind": "lift", "node_id": "b1"})
        assert added.status_code == 201, added.text
    added = gw.post("/devices", {"device_id": "lift-g2", "kind": "lift", "node_id": "b2"})
    assert added.status_code == 201, added.text
    for lift, fields in {**reports, "lift-g2": LEVEL}.items():
        if fields is not None:
            body = json.dumps({"kind": "lift", "fields": fields})
            publisher.publish(f"{topic_root}/v1/{lift}/reading", body)

    def states() -> dict[str, str]:
        return {lift["device_id"]: lift["state"] for lift in gw.get("/lifts")}

    wait_until(lambda: states().get("lift-g2") == "in_service", 10, "every report applied")
    assert states() == {
        "lift-trapped": "trapped",
        "lift-between": "stopped_between_floors",
        "lift-out": "out_of_service",
        "lift-fine": "in_service",
        "lift-silent": "unknown",
        "lift-g2": "in_service",
    }
    lifts = {lift["device_id"]: lift for lift in gw.get("/lifts")}
    trapped = lifts["lift-trapped"]
    assert (trapped["floor"], trapped["is_moving"], trapped["trapped_since"] is not None) == (
        7,
        False,
        True,
    )
    assert [n["id"] for n in trapped["location"]] == ["d1", "s1", "c1", "g1", "b1"]
    assert trapped["mount"] == "building"
    assert lifts["lift-out"]["fault_code"] == "E31"
    assert lifts["lift-fine"]["trapped_since"] is None
    assert lifts["lift-fine"]["is_door_open"] is False
    assert lifts["lift-silent"]["floor"] is None
    assert lifts["lift-silent"]["last_seen_at"] is None

    assert [lift["device_id"] for lift in gw.get("/lifts", state="trapped")] == ["lift-trapped"]
    assert [lift["device_id"] for lift in gw.get("/lifts", node_id="b2")] == ["lift-g2"]
    assert gw.call("GET", "/lifts", params={"state": "flying"}).status_code == 422

    other = gw.post("/people/w-g2/tokens", {}).json()["token"]
    seen = gw.call("GET", "/lifts", token=other).json()
    assert [lift["device_id"] for lift in seen] == ["lift-g2"]
    # the trapped lift's alert is the shipped rule's, on the building
    alert = wait_until(lambda: gw.get("/alerts", device_id="lift-trapped"), 10, "lift alert")[0]
    assert (alert["rule"], alert["severity"]) == ("lift_trapped", "critical")
