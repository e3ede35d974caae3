"""Event time and arrival time, through a real broker and gateway: a Zigbee2MQTT bridge
whose clock is wrong neither delays an alert, nor shows a door open since a time to come,
nor, when its clock steps back, turns a real close into a rejected reading and a false
alarm. (docs/rules.md, "Event time and arrival time".)"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.runtime.broker import LocalBroker, free_port
from tests.support import GatewayProcess, Publisher, fast_rules, wait_until

pytestmark = pytest.mark.integration

HOLD_S = 2.0


def _zigbee_door(gw: GatewayProcess) -> str:
    device_id = f"z{free_port()}-door"  # Zigbee2MQTT topics are not under our topic root
    created = gw.post("/devices", {"device_id": device_id, "kind": "door", "node_id": "b2-u2"})
    assert created.status_code == 201, created.text
    return device_id


def _stamp(offset_s: float) -> str:
    """The bridge's clock, `offset_s` off the real one, as Zigbee2MQTT's ISO_8601 says it."""
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat(timespec="milliseconds")


def test_a_bridge_whose_clock_steps_back_still_gets_its_close_applied_and_no_alert(
    broker: LocalBroker,
    publisher: Publisher,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    gw = gateways(broker.port, topic_root, rules_file=fast_rules(tmp_path, hold_s=HOLD_S))
    door = _zigbee_door(gw)
    topic = f"zigbee2mqtt/{door}"

    publisher.publish(topic, json.dumps({"contact": False, "last_seen": _stamp(120)}))
    wait_until(lambda: gw.get(f"/devices/{door}")["fields"].get("open") is True, 5, "opened")
    # an NTP correction on the bridge: the close carries the right time, 120 s "earlier"
    publisher.publish(topic, json.dumps({"contact": True, "last_seen": _stamp(0)}))
    wait_until(lambda: gw.get(f"/devices/{door}")["fields"].get("open") is False, 5, "closed")

    time.sleep(HOLD_S + 1.0)  # past the hold: a door still open would have raised by now
    assert gw.get("/alerts") == []
    stats = gw.get("/ingest/stats")
    assert [r for r in stats["rejections"] if r["reason"] == "duplicate"] == []
    assert stats["skewed"] == {"zigbee2mqtt": 1}
    [entry] = [d for d in gw.get("/doors") if d["device_id"] == door]
    assert entry["state"] == "closed"


def test_a_bridge_30_s_ahead_does_not_delay_the_alert_or_open_a_door_in_the_future(
    broker: LocalBroker,
    publisher: Publisher,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    gw = gateways(broker.port, topic_root, rules_file=fast_rules(tmp_path, hold_s=HOLD_S))
    door = _zigbee_door(gw)

    sent = datetime.now(UTC)
    publisher.publish(
        f"zigbee2mqtt/{door}", json.dumps({"contact": False, "last_seen": _stamp(30)})
    )
    [entry] = wait_until(
        lambda: [d for d in gw.get("/doors") if d["device_id"] == door and d["state"] == "open"],
        5,
        "the door open",
    )
    # the gateway's clock, not the bridge's: since the open arrived, not 30 s on (compared
    # with a margin, not with this process's clock to the microsecond: a CI machine's
    # clock is stepped by NTP too, between the two processes' readings of it)
    since = datetime.fromisoformat(entry["since"])
    assert sent - timedelta(seconds=2) <= since <= datetime.now(UTC) + timedelta(seconds=2)

    [alert] = wait_until(lambda: gw.get("/alerts"), HOLD_S + 5, "the alert, on time")
    raised_at = datetime.fromisoformat(alert["raised_at"])
    assert raised_at - sent < timedelta(seconds=HOLD_S + 2)  # not 30 s later
    assert datetime.fromisoformat(alert["opened_at"]) <= raised_at
    skew = gw.get(f"/devices/{door}")["clock_skew_s"]
    assert 28 < skew < 32
