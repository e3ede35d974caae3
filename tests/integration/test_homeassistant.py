"""Home Assistant on the same broker sees gridgate's doors and open alerts per grid: every
retained discovery config, read back from a real Mosquitto, passes a mirror of Home
Assistant's own discovery schema, and the states follow the readings and the alerts.

The schema below mirrors home-assistant/core `homeassistant/components/mqtt/`:
- topic: `discovery.py` TOPIC_MATCHER, `<prefix>/<component>/[<node_id>/]<object_id>/config`;
- every entity: `config.py` MQTT_RO_SCHEMA (state_topic required, qos, encoding,
  value_template) and `schemas.py` MQTT_ENTITY_COMMON_SCHEMA (availability single or list,
  exclusive; availability_mode; device, which needs identifiers or connections; origin,
  which needs a name; entity_category; icon as `prefix:name`; unique_id, object_id, ...);
- `binary_sensor.py` PLATFORM_SCHEMA_MODERN (device_class from `binary_sensor/__init__.py`
  BinarySensorDeviceClass, payload_on/off, expire_after, off_delay, force_update, name);
- `sensor.py` _PLATFORM_SCHEMA_BASE and validate_sensor_state_and_device_class_config
  (state_class, unit_of_measurement, options only for device_class enum, ...).
Home Assistant's DISCOVERY_SCHEMA drops keys it does not know (vol.REMOVE_EXTRA): a
misspelt key would be lost without a word, so the mirror forbids them instead.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    ValidationError,
    model_validator,
)

from gateway.places.site import Level, load_site
from gateway.runtime.broker import LocalBroker, free_port
from tests.support import FIXTURES, GatewayProcess, Publisher, door, wait_until

pytestmark = pytest.mark.integration

SITE = FIXTURES / "site.two-grids.yaml"
SMOKE = '{"kind":"smoke","fields":{"smoke":true}}'

# ---- the mirror of Home Assistant's discovery schema -----------------------------------

# discovery.py TOPIC_MATCHER (after the discovery prefix)
TOPIC_MATCHER = re.compile(
    r"(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config"
)
# binary_sensor/__init__.py BinarySensorDeviceClass
BINARY_SENSOR_DEVICE_CLASSES = Literal[
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
    "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving",
    "occupancy", "opening", "plug", "power", "presence", "problem", "running", "safety",
    "smoke", "sound", "tamper", "update", "vibration", "window",
]  # fmt: skip


def _publish_topic(topic: str) -> str:
    """util.py valid_publish_topic (and valid_subscribe_topic for a topic without
    wildcards): not empty, at most 65535 bytes, no NUL, no wildcard."""
    assert topic, "empty topic"
    assert len(topic.encode()) <= 65535, "topic too long"
    assert "\0" not in topic, "NUL in topic"
    assert not set(topic) & {"+", "#"}, f"wildcard in {topic!r}"
    return topic


Topic = Annotated[str, AfterValidator(_publish_topic)]
Icon = Annotated[str, Field(pattern=r"^[\w-]+:[\w-]+$")]  # config_validation.py icon


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AvailabilityItem(_Strict):  # schemas.py MQTT_AVAILABILITY_LIST_SCHEMA
    topic: Topic
    payload_available: str = "online"
    payload_not_available: str = "offline"
    value_template: str | None = None


class DeviceInfo(_Strict):  # schemas.py MQTT_ENTITY_DEVICE_INFO_SCHEMA
    identifiers: list[str] = []
    connections: list[Annotated[list[str], Field(min_length=2, max_length=2)]] = []
    manufacturer: str | None = None
    model: str | None = None
    model_id: str | None = None
    name: str | None = None
    hw_version: str | None = None
    serial_number: str | None = None
    sw_version: str | None = None
    via_device: str | None = None
    suggested_area: str | None = None
    configuration_url: str | None = None

    @model_validator(mode="after")
    def _identified(self) -> DeviceInfo:  # validate_device_has_at_least_one_identifier
        assert self.identifiers or self.connections, "a device needs identifiers or connections"
        return self


class OriginInfo(_Strict):  # schemas.py MQTT_ORIGIN_INFO_SCHEMA
    name: str
    sw_version: str | None = None
    support_url: str | None = None


class MqttEntity(_Strict):  # config.py MQTT_RO_SCHEMA + schemas.py MQTT_ENTITY_COMMON_SCHEMA
    state_topic: Topic
    value_template: str | None = None
    qos: Literal[0, 1, 2] = 0
    encoding: str = "utf-8"
    availability_topic: Topic | None = None
    availability_template: str | None = None
    payload_available: str = "online"
    payload_not_available: str = "offline"
    availability: list[AvailabilityItem] | None = None
    availability_mode: Literal["all", "any", "latest"] = "latest"
    device: DeviceInfo | None = None
    origin: OriginInfo | None = None
    enabled_by_default: bool = True
    entity_category: Literal["config", "diagnostic"] | None = None
    icon: Icon | None = None
    json_attributes_topic: Topic | None = None
    json_attributes_template: str | None = None
    object_id: str | None = None
    default_entity_id: str | None = None
    unique_id: str | None = None

    @model_validator(mode="after")
    def _one_availability(self) -> MqttEntity:  # vol.Exclusive(..., "availability")
        assert self.availability_topic is None or self.availability is None, "both availabilities"
        return self


class BinarySensorConfig(MqttEntity):  # binary_sensor.py PLATFORM_SCHEMA_MODERN
    device_class: BINARY_SENSOR_DEVICE_CLASSES | None = None
    expire_after: NonNegativeInt | None = None
    force_update: bool = False
    name: str | None = None
    off_delay: NonNegativeInt | None = None
    payload_off: str = "OFF"
    payload_on: str = "ON"


class SensorConfig(MqttEntity):  # sensor.py _PLATFORM_SCHEMA_BASE
    device_class: str | None = None
    expire_after: NonNegativeInt | None = None
    force_update: bool = False
    last_reset_value_template: str | None = None
    name: str | None = None
    options: list[str] | None = None
    suggested_display_precision: NonNegativeInt | None = None
    state_class: Literal["measurement", "measurement_angle", "total", "total_increasing"] | None = (
        None
    )
    unit_of_measurement: str | None = None

    @model_validator(mode="after")
    def _classes_agree(self) -> SensorConfig:  # validate_sensor_state_and_device_class_config
        if self.last_reset_value_template is not None:
            assert self.state_class == "total", "last_reset_value_template needs state_class total"
        if self.options is not None:
            assert self.options, "an empty options list"
            assert self.state_class is None, "options with a state_class"
            assert self.unit_of_measurement is None, "options with a unit"
            assert self.device_class == "enum", "options need device_class enum"
        return self


SCHEMAS: dict[str, type[MqttEntity]] = {
    "binary_sensor": BinarySensorConfig,
    "sensor": SensorConfig,
}


def validated(prefix: str, topic: str, payload: bytes) -> tuple[str, MqttEntity]:
    """(component, config) of one discovery message, or an AssertionError/ValidationError."""
    assert topic.startswith(prefix + "/"), topic
    match = TOPIC_MATCHER.fullmatch(topic[len(prefix) + 1 :])
    assert match, f"not a discovery topic: {topic}"
    component = match["component"]
    assert component in SCHEMAS, component
    return component, SCHEMAS[component].model_validate(json.loads(payload))


# ---- a subscriber that keeps the last message per topic ---------------------------------


class Retained:
    def __init__(self, port: int, *filters: str) -> None:
        self.messages: dict[str, tuple[bytes, bool]] = {}
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ha-{free_port()}")
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        self._client.subscribe([(f, 1) for f in filters])
        assert self._subscribed.wait(5), "no SUBACK"

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages[message.topic] = (bytes(message.payload), bool(message.retain))
            self.counts[message.topic] = self.counts.get(message.topic, 0) + 1

    def payload(self, topic: str) -> bytes | None:
        with self._lock:
            entry = self.messages.get(topic)
        return None if entry is None else entry[0]

    def under(self, prefix: str) -> dict[str, tuple[bytes, bool]]:
        with self._lock:
            return {t: m for t, m in self.messages.items() if t.startswith(prefix + "/")}

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def subscribers(broker: LocalBroker) -> Iterator[Callable[..., Retained]]:
    made: list[Retained] = []

    def make(*filters: str) -> Retained:
        made.append(Retained(broker.port, *filters))
        return made[-1]

    yield make
    for subscriber in made:
        subscriber.close()


def test_the_schema_mirror_refuses_what_home_assistant_would() -> None:
    good = {
        "state_topic": "gg/ha/door/d1",
        "device_class": "door",
        "device": {"identifiers": ["d1"]},
    }
    BinarySensorConfig.model_validate(good)
    bad = [
        {k: v for k, v in good.items() if k != "state_topic"},  # state_topic is required
        {**good, "device_class": "doors"},  # not a device class
        {**good, "device": {"name": "no identifiers"}},
        {**good, "avty_t": "x"},  # an abbreviation, or a misspelt key: HA would drop it
        {**good, "availability_topic": "a", "availability": [{"topic": "b"}]},
        {**good, "state_topic": "gg/+/door"},
        {**good, "icon": "alert"},
        {**good, "origin": {"sw_version": "1"}},
    ]
    for config in bad:
        with pytest.raises((ValidationError, AssertionError)):
            BinarySensorConfig.model_validate(config)
    with pytest.raises(ValidationError):
        SensorConfig.model_validate({"state_topic": "t", "options": ["a"], "state_class": "total"})
    with pytest.raises(AssertionError):
        validated("homeassistant", "homeassistant/sensor/a/b/c/config", b"{}")


# ---- the gateway ---------------------------------------------------------------------


def test_home_assistant_discovers_every_door_and_grid_and_follows_their_states(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    subscribers: Callable[..., Retained],
    gateways: Callable[..., GatewayProcess],
) -> None:
    prefix = f"ha-{topic_root}"
    site = load_site(SITE)
    doors = sorted(d for d, p in site.devices.items() if p.kind.value == "door")
    grids = sorted(path[-1].id for path in site.nodes.values() if path[-1].level == Level.GRID)
    assert len(doors) == 2
    assert len(grids) == 2
    live = subscribers(f"{prefix}/#", f"{topic_root}/#")
    gw = gateways(
        broker.port,
        topic_root,
        site_file=SITE,
        extra_env={
            "GRIDGATE_HOMEASSISTANT__ENABLED": "true",
            "GRIDGATE_HOMEASSISTANT__DISCOVERY_PREFIX": prefix,
            "GRIDGATE_HOMEASSISTANT__NODE_ID": "gg1",
            "GRIDGATE_HOMEASSISTANT__ALERT_COUNT_EVERY_S": "0.3",
        },
    )
    found = wait_until(
        lambda: (m := live.under(prefix)) and len(m) == len(doors) + len(grids) and m,
        10,
        "a discovery config per door and per grid",
    )
    configs: dict[str, dict[str, MqttEntity]] = {"binary_sensor": {}, "sensor": {}}
    for topic, (payload, _) in found.items():
        component, config = validated(prefix, topic, payload)
        configs[component][topic] = config
    binary = list(configs["binary_sensor"].values())
    sensors = list(configs["sensor"].values())
    assert len(binary) == len(doors)
    assert len(sensors) == len(grids)
    unique_ids = [c.unique_id for c in binary + sensors]
    assert None not in unique_ids
    assert len(set(unique_ids)) == len(unique_ids)
    by_serial = {c.device.serial_number: c for c in binary if c.device is not None}
    assert sorted(by_serial) == doors
    door_b1 = by_serial["door-b1-u1"]
    assert isinstance(door_b1, BinarySensorConfig)
    assert door_b1.device_class == "door"
    assert door_b1.qos == 1
    assert door_b1.device is not None
    assert door_b1.device.name == "光明社区 / 第1网格 / 1号楼 / 1单元 / 单元门"  # its place
    assert door_b1.availability_mode == "all"
    assert door_b1.availability is not None
    for item in door_b1.availability:  # the gateway's ingest and this connection: both up
        wait_until(lambda t=item.topic: live.payload(t) == b"online", 5, f"{item.topic} online")

    grid_topic = {
        c.device.name: c.state_topic for c in sensors if isinstance(c, SensorConfig) and c.device
    }
    g1, g2 = grid_topic["光明社区 / 第1网格"], grid_topic["光明社区 / 第2网格"]
    assert all(isinstance(c, SensorConfig) and c.state_class == "measurement" for c in sensors)
    wait_until(lambda: live.payload(g1) == live.payload(g2) == b"0", 5, "zero open alerts")

    root = f"{topic_root}/v1"
    publisher.publish(f"{root}/door-b1-u1/reading", door(True))
    wait_until(lambda: live.payload(door_b1.state_topic) == b"open", 5, "the door open")
    assert door_b1.payload_on == "open"
    publisher.publish(f"{root}/door-b1-u1/reading", door(False))
    wait_until(lambda: live.payload(door_b1.state_topic) == b"closed", 5, "the door closed")
    assert door_b1.payload_off == "closed"

    publisher.publish(f"{root}/smoke-b1-u1/reading", SMOKE)
    wait_until(lambda: live.payload(g1) == b"1", 5, "one open alert in grid 1")
    assert live.payload(g2) == b"0"

    # a door added through the API appears; removed, its config is cleared (HA drops it)
    added = gw.post("/devices", {"device_id": "door-b2-u1.x", "kind": "door", "node_id": "b2-u1"})
    assert added.status_code == 201, added.text
    added_topic = f"{prefix}/binary_sensor/gg1/door_door-b2-u1_x_"
    new_config = wait_until(
        lambda: next((t for t in live.under(prefix) if t.startswith(added_topic)), None),
        5,
        "the added door's config",
    )
    payload = live.payload(new_config)
    assert payload
    validated(prefix, new_config, payload)
    assert gw.call("DELETE", "/devices/door-b2-u1.x").status_code == 204
    wait_until(lambda: live.payload(new_config) == b"", 5, "the removed door's config cleared")

    # Home Assistant restarting announces itself: it is told everything again
    before = live.counts[door_b1.state_topic]
    publisher.publish(f"{prefix}/status", "online")
    wait_until(lambda: live.counts[door_b1.state_topic] > before, 5, "the states again")

    assert gw.stop() == 0
    sink_availability = f"{topic_root}/ha/gg1/availability"
    wait_until(lambda: live.payload(sink_availability) == b"offline", 5, "offline at stop")

    # what a Home Assistant starting now reads: retained configs and states
    later = subscribers(f"{prefix}/#", f"{topic_root}/ha/#")
    retained = wait_until(
        lambda: (m := later.under(prefix)) and len(m) == len(doors) + len(grids) and m,
        5,
        "the retained configs",
    )
    assert all(is_retained for _, is_retained in retained.values())
    assert {t: p for t, (p, _) in retained.items()} == {t: p for t, (p, _) in found.items()}
    assert new_config not in retained  # an empty retained message is no message
    wait_until(lambda: later.payload(door_b1.state_topic) == b"closed", 5, "retained state")
    assert later.payload(g1) == b"1"
    assert "Traceback" not in gw.log_path.read_text(encoding="utf-8")
