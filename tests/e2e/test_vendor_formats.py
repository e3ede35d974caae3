"""Every shipped vendor format through a real Mosquitto into the running gateway: the
payloads of each vendor's documentation open a door (GET /doors says so, and the door
alert follows), a Zigbee2MQTT name with `/` is listed as unregistered with its reason,
and a lift monitor's trapped alarm raises the shipped critical lift alert."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.runtime.broker import LocalBroker, free_port
from rules.model import DEFAULT_RULES
from tests.support import GatewayProcess, Publisher, fast_rules, wait_until

pytestmark = pytest.mark.integration

UNIT = "b2-u2"  # a unit of the demo site (gateway/defaults/site.demo.yaml)
BUILDING = "b2"


def rules_folder(tmp_path: Path) -> Path:
    """Doors held 1 s, and the shipped lift rules as they are."""
    folder = tmp_path / "rules"
    folder.mkdir()
    fast_rules(folder, hold_s=1.0)
    shutil.copy(DEFAULT_RULES / "lifts.yaml", folder / "lifts.yaml")
    return folder


def test_each_vendors_door_opens_on_the_dashboard_and_raises_the_door_alert(
    broker: LocalBroker,
    publisher: Publisher,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    gw = gateways(broker.port, topic_root, rules_file=rules_folder(tmp_path))
    # vendor topics are not under our topic root: unique names keep tests apart
    u = f"v{free_port()}"
    relay = f"{u}-relay"
    doors = {
        "tasmota_zigbee": f"{u}-zb",
        "tasmota_switch": f"{u}-sw",
        "esphome": f"{u}-esp",
        "shelly_gen1": f"{u}-dw2",
        "shelly_blu": f"{relay}.bthomesensor:201",
        "zigbee2mqtt": f"{u}-z2m",
    }
    for device_id in doors.values():
        created = gw.post("/devices", {"device_id": device_id, "kind": "door", "node_id": UNIT})
        assert created.status_code == 201, created.text

    def publish(topic: str, payload: Any) -> None:
        publisher.publish(topic, payload if isinstance(payload, str) else json.dumps(payload))

    now = time.time()
    # each vendor's own words for "the door opened"
    publish(
        "tele/zbbridge-b2/SENSOR",
        {"ZbReceived": {"0x662E": {"Device": "0x662E", "Name": doors["tasmota_zigbee"],
                                   "Contact": 1, "Endpoint": 1, "LinkQuality": 157}}},
    )  # fmt: skip
    publish(f"stat/{doors['tasmota_switch']}/RESULT", {"Switch1": {"Action": "OFF"}})
    publish(f"esphome/{doors['esphome']}/binary_sensor/door/state", "ON")
    publish(f"esphome/{doors['esphome']}/sensor/battery/state", "77")
    publish(f"shellies/{doors['shelly_gen1']}/sensor/state", "open")
    publish(f"shellies/{doors['shelly_gen1']}/sensor/battery", "81")
    publish(f"shellies/{doors['shelly_gen1']}/sensor/lux", "120")
    publish(
        f"shelly/{relay}/events/rpc",
        {"src": "shellyplus1-a8032ab12345", "dst": f"shelly/{relay}/events",
         "method": "NotifyStatus",
         "params": {"ts": round(now, 2), "bthomesensor:201": {"id": 201, "value": True}}},
    )  # fmt: skip
    publish(f"zigbee2mqtt/{doors['zigbee2mqtt']}", {"contact": False, "last_seen": int(now * 1000)})

    def door_states() -> dict[str, str]:
        return {d["device_id"]: d["state"] for d in gw.get("/doors")}

    opened = wait_until(
        lambda: (s := door_states()) and all(s.get(d) == "open" for d in doors.values()) and s,
        10,
        "every vendor's door open",
    )
    assert {opened[d] for d in doors.values()} == {"open"}
    alerted = wait_until(
        lambda: (
            (a := {x["device_id"] for x in gw.get("/alerts") if x["rule"] == "door_left_open"})
            >= set(doors.values())
            and a
        ),
        15,
        "a door alert for every vendor's door",
    )
    assert set(doors.values()) <= alerted
    # a value on a topic of its own joined the same device; a topic not read was counted
    assert gw.get(f"/devices/{doors['esphome']}")["fields"]["battery"] == 77
    assert gw.get(f"/devices/{doors['shelly_gen1']}")["fields"]["battery"] == 81
    assert "lux" not in gw.get(f"/devices/{doors['shelly_gen1']}")["fields"]
    stats = {(r["adapter"], r["reason"]) for r in gw.get("/ingest/stats")["rejections"]}
    assert ("shelly_gen1", "ignored_topic") in stats

    # ESPHome's status topic is the node's availability; closing shows on /doors again
    publish(f"esphome/{doors['esphome']}/status", "offline")
    wait_until(lambda: door_states()[doors["esphome"]] == "offline", 5, "the ESPHome node offline")
    publish(f"stat/{doors['tasmota_switch']}/RESULT", {"Switch1": {"Action": "ON"}})
    wait_until(lambda: door_states()[doors["tasmota_switch"]] == "closed", 5, "the reed closed")


def test_a_zigbee2mqtt_name_with_a_slash_is_listed_as_unregistered_with_the_reason(
    broker: LocalBroker,
    publisher: Publisher,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    gw = gateways(broker.port, topic_root, rules_file=fast_rules(tmp_path, hold_s=60.0))
    name = f"b{free_port()}/door"

    publisher.publish(f"zigbee2mqtt/{name}", json.dumps({"contact": False, "linkquality": 90}))

    listed = wait_until(
        lambda: {u["device_id"]: u for u in gw.get("/devices/unregistered")}.get(name),
        10,
        "the slashed name among the unregistered devices",
    )
    assert listed["adapter"] == "zigbee2mqtt"
    assert listed["topic"] == f"zigbee2mqtt/{name}"
    rejection = next(
        r
        for r in gw.get("/ingest/stats")["rejections"]
        if (r["adapter"], r["reason"]) == ("zigbee2mqtt", "unknown_device")
    )
    assert "friendly name with '/'" in rejection["last_detail"]


def test_a_lift_monitors_trapped_alarm_raises_the_critical_lift_alert(
    broker: LocalBroker,
    publisher: Publisher,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    gw = gateways(broker.port, topic_root, rules_file=rules_folder(tmp_path))
    lift = f"lift{free_port()}"
    created = gw.post("/devices", {"device_id": lift, "kind": "lift", "node_id": BUILDING})
    assert created.status_code == 201, created.text
    status = {
        "car": {"floor": 6, "direction": "stopped", "leveled": False, "door": "closed"},
        "service": "normal",
        "alarm": {"trapped": True, "overspeed": False},
        "fault": "E30",
    }

    publisher.publish(f"lift/{lift}/status", json.dumps(status))

    alert = wait_until(
        lambda: [
            a for a in gw.get("/alerts") if a["device_id"] == lift and a["rule"] == "lift_trapped"
        ],
        10,
        "the trapped alert",
    )[0]
    assert alert["severity"] == "critical"
    assert alert["place"].endswith("2号楼")
    device = gw.get(f"/devices/{lift}")
    assert device["fields"]["trapped"] is True
    assert device["fields"]["floor"] == 6
