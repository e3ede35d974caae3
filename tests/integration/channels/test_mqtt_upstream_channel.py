"""MQTT upstream against a second real Mosquitto: topic template, payload, QoS 1 PUBACK,
and retries while the district broker is away."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.channels.mqtt_upstream import MqttUpstream
from gateway.config import MqttChannel, OutboxSettings
from gateway.runtime.broker import LocalBroker, free_port
from rules.model import Severity
from tests.integration.channels.conftest import Rig
from tests.support import wait_until

pytestmark = pytest.mark.integration


class Subscriber:
    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{free_port()}")
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(5), "subscription not acknowledged"

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._lock:
            self.messages.append((message.topic, json.loads(message.payload)))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def district(tmp_path: Path) -> Iterator[LocalBroker]:
    """The district platform's broker: a second Mosquitto, apart from the gateway's."""
    broker = LocalBroker(tmp_path / "district", persistence=False)
    broker.write_config()
    broker.start()
    yield broker
    broker.stop()


def upstream(port: int, **kw: object) -> MqttChannel:
    return MqttChannel.model_validate(
        {
            "type": "mqtt",
            "name": "district",
            "host": "127.0.0.1",
            "port": port,
            "topic_template": "district/{district_id}/alerts/{severity}",
            "timeout_s": 1.0,
            **kw,
        }
    )


def test_alert_is_published_on_the_templated_topic_without_phone_numbers(
    rig: Rig, district: LocalBroker
) -> None:
    subscriber = Subscriber(district.port, "district/#")
    extra = {"recipients": [{"phone": "13800000001"}], "escalation_level": 1}
    try:
        [alert] = rig.raise_alerts(1, "mqtt", "district", severity=Severity.CRITICAL, extra=extra)
        settings = upstream(district.port)

        rig.run(
            lambda http: {("mqtt", "district"): MqttUpstream(settings)},
            lambda: rig.counts()["delivered"] == 1,
            what="the PUBACK",
        )

        [(topic, payload)] = wait_until(lambda: subscriber.messages, 5, "the message")
    finally:
        subscriber.close()
    assert topic == "district/d1/alerts/critical"
    assert payload["event"] == "alert.raised"
    assert payload["alert"]["id"] == alert.id
    assert payload["escalation_level"] == 1
    assert "recipients" not in payload


def test_publishes_retry_while_the_district_broker_is_down_and_go_when_it_returns(
    rig: Rig, tmp_path: Path
) -> None:
    broker = LocalBroker(tmp_path / "late", persistence=False)
    broker.write_config()
    rig.raise_alerts(2, "mqtt", "district")
    settings = upstream(broker.port)

    def until() -> bool:
        if broker.pid is None and rig.health.alerts.deliveries_retried >= 2:
            broker.start()  # the platform comes back after failed tries
        return rig.counts()["delivered"] == 2

    try:
        rig.run(
            lambda http: {("mqtt", "district"): MqttUpstream(settings)},
            until,
            timeout_s=20,
            settings=OutboxSettings(retry_min_s=0.2, retry_max_s=0.5, max_attempts=0),
            what="delivery after the broker started",
        )
    finally:
        broker.stop()
    assert rig.health.alerts.deliveries_retried >= 1
    assert rig.counts() == {"pending": 0, "delivered": 2, "dead": 0}
