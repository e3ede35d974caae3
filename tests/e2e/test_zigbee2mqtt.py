"""Zigbee2MQTT-format messages through a real Mosquitto into the running gateway: the kind
comes from the registry, `contact: true` means closed, availability in both forms."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.runtime.broker import LocalBroker, free_port
from tests.support import GatewayProcess, Publisher, fast_rules, wait_until

pytestmark = pytest.mark.integration


def test_a_zigbee_door_and_smoke_sensor_work_end_to_end(
    broker: LocalBroker,
    publisher: Publisher,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    gw = gateways(broker.port, topic_root, rules_file=fast_rules(tmp_path, hold_s=1.0))
    # Zigbee2MQTT topics are not under our topic root: unique names keep tests apart
    door_id, smoke_id, stranger = (f"z{free_port()}-{n}" for n in ("door", "smoke", "x"))
    for device_id, kind, node in ((door_id, "door", "b2-u2"), (smoke_id, "smoke", "b2-u2")):
        created = gw.post("/devices", {"device_id": device_id, "kind": kind, "node_id": node})
        assert created.status_code == 201, created.text

    def z2m(device_id: str, payload: dict[str, object]) -> None:
        publisher.publish(f"zigbee2mqtt/{device_id}", json.dumps(payload))

    z2m(door_id, {"contact": True, "battery": 97, "voltage": 3005, "linkquality": 120})
    wait_until(lambda: gw.get(f"/devices/{door_id}")["fields"].get("open") is False, 5, "closed")
    device = gw.get(f"/devices/{door_id}")
    assert device["fields"]["battery"] == 97
    assert device["fields"]["voltage"] == pytest.approx(3.005)

    z2m(door_id, {"contact": False, "battery": 97, "linkquality": 118})  # opened
    alert = wait_until(
        lambda: [a for a in gw.get("/alerts") if a["device_id"] == door_id], 10, "door alert"
    )[0]
    assert alert["rule"] == "door_left_open"
    assert alert["place"].endswith("2号楼 / 2单元")

    z2m(smoke_id, {"smoke": True, "battery_low": False, "tamper": False, "linkquality": 90})
    wait_until(
        lambda: [a for a in gw.get("/alerts") if a["device_id"] == smoke_id], 10, "smoke alert"
    )

    publisher.publish(f"zigbee2mqtt/{door_id}/availability", '{"state":"offline"}')
    wait_until(
        lambda: gw.get(f"/devices/{door_id}")["is_online"] is False, 5, "offline (JSON form)"
    )
    publisher.publish(f"zigbee2mqtt/{door_id}/availability", "online")
    wait_until(lambda: gw.get(f"/devices/{door_id}")["is_online"] is True, 5, "online (plain)")

    # bad and unknown messages are counted and listed, and do not stop the good ones
    publisher.publish(f"zigbee2mqtt/{door_id}", b"{oops")
    z2m(stranger, {"contact": True})
    publisher.publish("zigbee2mqtt/bridge/state", '{"state":"online"}')
    z2m(door_id, {"contact": True})
    wait_until(lambda: gw.get(f"/devices/{door_id}")["fields"]["open"] is False, 5, "closed again")
    stats = {(r["adapter"], r["reason"]): r for r in gw.get("/ingest/stats")["rejections"]}
    assert ("zigbee2mqtt", "malformed_json") in stats
    assert stats[("zigbee2mqtt", "unknown_device")]["last_device_id"] == stranger
    unregistered = {u["device_id"]: u for u in gw.get("/devices/unregistered")}
    assert unregistered[stranger]["topic"] == f"zigbee2mqtt/{stranger}"
    assert unregistered[stranger]["adapter"] == "zigbee2mqtt"
    assert "bridge" not in unregistered  # the bridge's own topics are not devices
