"""What the gateway's own MQTT reading path must take as paho would: messages with MQTT v5
properties, QoS 0, and the commonest message of all, a sensor repeating itself."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.runtime.broker import LocalBroker, free_port
from tests.support import GatewayProcess, Publisher, door, wait_until

pytestmark = pytest.mark.integration

StartGateway = Callable[..., GatewayProcess]


def _v5_client(port: int) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"test-v5-{free_port()}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def test_readings_with_v5_properties_and_at_qos_0_are_taken_like_any_other(
    broker: LocalBroker, topic_root: str, gateways: StartGateway
) -> None:
    gw = gateways(broker.port, topic_root)
    client = _v5_client(broker.port)
    try:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ContentType = "application/json"
        properties.UserProperty = [("firmware", "2.4.1")]
        info = client.publish(
            f"{topic_root}/v1/door-b1-u1/reading", door(True), qos=1, properties=properties
        )
        info.wait_for_publish(timeout=5)
        client.publish(
            f"{topic_root}/v1/smoke-b1-u1/reading",
            '{"kind":"smoke","fields":{"smoke":true}}',
            qos=0,
        )
        stats = wait_until(
            lambda: (s := gw.get("/ingest/stats"))["accepted"] >= 2 and s, 10, "both readings"
        )
    finally:
        client.disconnect()
        client.loop_stop()
    assert stats["rejections"] == []
    assert gw.get("/devices/door-b1-u1")["fields"]["open"] is True
    alerts = wait_until(lambda: gw.get("/alerts"), 5, "the smoke alert (QoS 0 reading)")
    assert [a["rule"] for a in alerts] == ["smoke_detected"]


def test_a_repeated_report_reaches_the_store_within_seconds_and_a_stop_writes_the_last(
    broker: LocalBroker, topic_root: str, publisher: Publisher, gateways: StartGateway
) -> None:
    gw = gateways(broker.port, topic_root)
    topic = f"{topic_root}/v1/door-b1-u1/reading"
    t0 = datetime.now(UTC).replace(microsecond=0)
    publisher.publish(topic, door(False, t0.isoformat()))
    wait_until(lambda: gw.get("/ingest/stats")["accepted"] == 1, 10, "the first reading")
    first_seen = gw.get("/devices/door-b1-u1")["last_seen_at"]

    again = t0 + timedelta(seconds=1)
    publisher.publish(topic, door(False, again.isoformat()))
    # written a second or so later, with no other message to carry it
    wait_until(
        lambda: gw.get("/devices/door-b1-u1")["last_seen_at"] != first_seen, 5, "instants written"
    )
    device = gw.get("/devices/door-b1-u1")
    assert device["fields"] == {"open": False}

    last = t0 + timedelta(seconds=2)
    publisher.publish(topic, door(False, last.isoformat()))
    wait_until(lambda: gw.get("/ingest/stats")["accepted"] == 3, 10, "the last reading")
    gw.stop()  # before the next write is due: the stop writes it
    database = Path(gw.env["GRIDGATE_STATE_DIR"]) / "gridgate.db"
    with closing(sqlite3.connect(database)) as db:
        row = db.execute(
            "SELECT last_stamp_at, changed_at FROM device_states WHERE device_id='door-b1-u1'"
        ).fetchone()
    assert datetime.fromisoformat(row[0]) == last
    assert datetime.fromisoformat(row[1]) == t0  # repeats never move when it changed
