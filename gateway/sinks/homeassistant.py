"""Home Assistant sees gridgate: MQTT discovery for each door and an open-alert count per grid.

Off unless `homeassistant.enabled` (settings `HomeAssistantSettings`). On its own paho
connection to the gateway's broker (paho's network thread, like the MQTT upstream channel;
the traffic is a state change now and then, never a message per reading):

    PREFIX/binary_sensor/NODE/door_<device_id>/config   retained, one per door
    PREFIX/sensor/NODE/grid_<grid_id>_open_alerts/config retained, one per grid
    ROOT/ha/NODE/door/<device_id>          open | closed            retained, on change
    ROOT/ha/NODE/grid/<grid_id>/open_alerts <count>                 retained, on change
    ROOT/ha/NODE/availability              online | offline (last will)

Every entity is available while both this connection and the gateway's own ingest
connection (`ROOT/v1/gateway/status`) are up (`availability_mode: all`). Door states come
from the readings the pipeline accepts (`offer`, beside the telemetry sink); the counts
from the store every `alert_count_every_s`, alerts in an open state grouped by grid. The
configs and the last states are published again at every (re)connection, when Home
Assistant announces itself (`PREFIX/status` = `online`) and when devices are added or
removed through the API (the config of a removed door is cleared, which removes it).
docs/topics.md shows the payloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import HomeAssistantSettings, MqttSettings
from gateway.ingest.client import log_in
from gateway.pipeline.steps import Accepted
from gateway.places.registry import Registry
from gateway.places.site import Level, Node, Placement, Site
from gateway.runtime.clock import wait_or_timeout
from gateway.store.records import OPEN_STATES, Alert, AlertState
from sensors.kinds import Kind

log = logging.getLogger(__name__)

ORIGIN = {"name": "gridgate", "sw_version": "0.1.0"}
DOOR_ON, DOOR_OFF = "open", "closed"
CHUNK = 200  # configs published before waiting for the broker to take them
PUBLISH_WAIT_S = 10.0
PAGE = 1000  # alerts read per query when counting
KEEPALIVE_S = 30
_OBJECT_ID = re.compile(r"[A-Za-z0-9_-]+")


class AlertLister(Protocol):
    """The store's alert listing (gateway/store), as far as counting needs it."""

    def find(
        self,
        *,
        states: list[AlertState] | None = ...,
        before_id: int | None = ...,
        limit: int = ...,
    ) -> Sequence[Alert]: ...


def object_id(raw: str) -> str:
    """`raw` where Home Assistant's discovery topic allows it ([A-Za-z0-9_-]), else a safe
    form with a short hash so that two ids never share a topic."""
    if _OBJECT_ID.fullmatch(raw):
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9_-]", "_", raw) + "_" + digest


def grids(site: Site) -> dict[str, tuple[Node, ...]]:
    """grid id -> path from the district down to it."""
    return {path[-1].id: path for path in site.nodes.values() if path[-1].level == Level.GRID}


def _words(path: Sequence[Node]) -> str:
    return " / ".join(n.name for n in path if n.level not in (Level.DISTRICT, Level.STREET))


def _grid_of(path: Sequence[Node]) -> Node | None:
    return next((n for n in path if n.level == Level.GRID), None)


class Topics:
    """Every topic this sink publishes on."""

    def __init__(self, settings: HomeAssistantSettings, topic_root: str) -> None:
        self.prefix = settings.discovery_prefix
        self.node = settings.node_id
        self.base = f"{topic_root}/ha/{settings.node_id}"
        self.availability = f"{self.base}/availability"
        self.gateway_status = f"{topic_root}/v1/gateway/status"  # gateway/ingest/mqtt.py's
        self.birth = f"{self.prefix}/status"

    def door_config(self, device_id: str) -> str:
        return f"{self.prefix}/binary_sensor/{self.node}/door_{object_id(device_id)}/config"

    def door_state(self, device_id: str) -> str:
        return f"{self.base}/door/{device_id}"

    def grid_config(self, grid_id: str) -> str:
        return f"{self.prefix}/sensor/{self.node}/grid_{object_id(grid_id)}_open_alerts/config"

    def grid_state(self, grid_id: str) -> str:
        return f"{self.base}/grid/{grid_id}/open_alerts"


def _available(topic: str) -> dict[str, str]:
    return {"topic": topic, "payload_available": "online", "payload_not_available": "offline"}


def _common(topics: Topics) -> dict[str, Any]:
    return {
        "qos": 1,
        "availability": [_available(topics.gateway_status), _available(topics.availability)],
        "availability_mode": "all",
        "origin": ORIGIN,
    }


def door_config(topics: Topics, door: Placement) -> dict[str, Any]:
    """A door as a binary_sensor of device_class door; its device named by its place."""
    grid = _grid_of(door.location)
    device: dict[str, Any] = {
        "identifiers": [f"{topics.node}_{door.device_id}"],
        "name": door.place(),
        "manufacturer": "gridgate",
        "model": f"door ({door.mount.value})",
        "serial_number": door.device_id,
    }
    if grid is not None:
        device["suggested_area"] = grid.name
    return {
        "name": None,  # the door is what its device is: Home Assistant shows the place
        "unique_id": f"{topics.node}_door_{door.device_id}",
        "device_class": "door",
        "state_topic": topics.door_state(door.device_id),
        "payload_on": DOOR_ON,
        "payload_off": DOOR_OFF,
        "device": device,
        **_common(topics),
    }


def grid_config(topics: Topics, grid_id: str, path: Sequence[Node]) -> dict[str, Any]:
    """A grid's open alerts as a numeric sensor on a device that is the grid."""
    return {
        "name": "待处理告警",  # open alerts
        "unique_id": f"{topics.node}_grid_{grid_id}_open_alerts",
        "state_topic": topics.grid_state(grid_id),
        "state_class": "measurement",
        "icon": "mdi:alert",
        "device": {
            "identifiers": [f"{topics.node}_grid_{grid_id}"],
            "name": _words(path),
            "manufacturer": "gridgate",
            "model": "grid",
        },
        **_common(topics),
    }


def open_alerts_by_grid(store: AlertLister) -> Counter[str]:
    """Alerts in an open state, counted per grid (those above grid level are not counted)."""
    counts: Counter[str] = Counter()
    before: int | None = None
    while True:
        page = store.find(states=list(OPEN_STATES), before_id=before, limit=PAGE)
        for alert in page:
            grid = _grid_of(alert.location)
            if grid is not None:
                counts[grid.id] += 1
        if len(page) < PAGE:
            return counts
        before = min(a.id for a in page)


class HomeAssistantSink:
    def __init__(
        self,
        settings: HomeAssistantSettings,
        broker: MqttSettings,
        site: Site,
        registry: Registry,
        store: AlertLister,
    ) -> None:
        self._settings = settings
        self._broker = broker
        self._registry = registry
        self._store = store
        self._topics = Topics(settings, broker.topic_root)
        self._grids = grids(site)
        self._doors: dict[str, bool] = {}  # device_id -> open, as last seen
        self._counts: dict[str, int] = {}  # grid id -> open alerts, as last published
        self._configured: set[str] = set()  # doors whose config is on the broker
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self._resync = asyncio.Event()  # publish every config and state again
        self._task: asyncio.Task[None] | None = None
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{broker.client_id}-homeassistant"
        )
        log_in(self._client, broker)
        self._client.will_set(self._topics.availability, b"offline", qos=1, retain=True)
        self._client.reconnect_delay_set(int(max(1, broker.reconnect_min_s)), 30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        registry.on_change(self.places_changed)

    # ---- on the loop ------------------------------------------------------------------

    def offer(self, accepted: list[Accepted]) -> None:
        """Door readings from a pipeline step: publish the doors whose state changed."""
        doors = self._doors
        for item in accepted:
            reading = item.reading
            if reading.kind is not Kind.DOOR:
                continue
            is_open = reading.fields.get("open")
            if not isinstance(is_open, bool) or doors.get(reading.device_id) is is_open:
                continue
            doors[reading.device_id] = is_open
            if self._connected.is_set():
                self._publish(self._topics.door_state(reading.device_id), _door(is_open))

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._client.connect_async(self._broker.host, self._broker.port, keepalive=KEEPALIVE_S)
        self._client.loop_start()
        self._task = asyncio.create_task(self._run(), name="homeassistant")
        log.info(
            "homeassistant_starting prefix=%s node_id=%s doors=%d grids=%d",
            self._settings.discovery_prefix,
            self._settings.node_id,
            len(self._doors_now()),
            len(self._grids),
        )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client.is_connected():
            info = self._client.publish(self._topics.availability, b"offline", qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                await asyncio.to_thread(info.wait_for_publish, 2.0)
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    def places_changed(self) -> None:
        """Devices were added or removed (any thread): publish the configs again."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._resync.set)

    async def _run(self) -> None:
        every_s = self._settings.alert_count_every_s
        while True:
            await wait_or_timeout(self._resync, every_s)
            if not self._connected.is_set():
                await self._connected.wait()
                continue
            try:
                if self._resync.is_set():
                    self._resync.clear()
                    await self._publish_all()
                counts = await asyncio.to_thread(open_alerts_by_grid, self._store)
                self._publish_counts(counts)
            except Exception:  # the task must outlive a failing query or a lost connection
                log.exception("homeassistant_round_failed")
                self._resync.set()
                await asyncio.sleep(every_s)

    async def _publish_all(self) -> None:
        """Every config, then every state known; in chunks the broker has taken."""
        doors = self._doors_now()
        messages: list[tuple[str, bytes]] = [
            (self._topics.door_config(d.device_id), _json(door_config(self._topics, d)))
            for d in doors.values()
        ]
        messages += [
            (self._topics.door_config(device_id), b"")  # an empty config removes it
            for device_id in sorted(self._configured - set(doors))
        ]
        messages += [
            (self._topics.grid_config(g), _json(grid_config(self._topics, g, path)))
            for g, path in sorted(self._grids.items())
        ]
        messages += [
            (self._topics.door_state(device_id), _door(is_open))
            for device_id, is_open in sorted(self._doors.items())
            if device_id in doors
        ]
        for start in range(0, len(messages), CHUNK):
            infos = [self._publish(t, p) for t, p in messages[start : start + CHUNK]]
            try:
                await asyncio.to_thread(infos[-1].wait_for_publish, PUBLISH_WAIT_S)
            except (RuntimeError, ValueError) as exc:  # the connection went: again on the next
                log.info("homeassistant_discovery_interrupted reason=%s", exc)
                return
        self._configured = set(doors)
        self._counts = {}  # counts go out again in full
        log.info(
            "homeassistant_discovery_published doors=%d grids=%d", len(doors), len(self._grids)
        )

    def _publish_counts(self, counts: Counter[str]) -> None:
        for grid_id in self._grids:
            count = counts.get(grid_id, 0)
            if self._counts.get(grid_id) != count:
                self._publish(self._topics.grid_state(grid_id), str(count).encode())
                self._counts[grid_id] = count

    def _doors_now(self) -> dict[str, Placement]:
        return {d: p for d, p in self._registry.devices.items() if p.kind is Kind.DOOR}

    def _publish(self, topic: str, payload: bytes) -> mqtt.MQTTMessageInfo:
        return self._client.publish(topic, payload, qos=1, retain=True)

    # ---- paho's network thread: hand over to the loop -----------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("homeassistant_connect_refused reason=%s", reason)
            return
        client.publish(self._topics.availability, b"online", qos=1, retain=True)
        client.subscribe(self._topics.birth, qos=1)
        log.info("homeassistant_connected broker=%s:%s", self._broker.host, self._broker.port)
        self._call(self._connected.set)
        self._call(self._resync.set)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        log.warning("homeassistant_disconnected reason=%s", reason)
        self._call(self._connected.clear)

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == self._topics.birth and message.payload == b"online":
            self._call(self._resync.set)  # Home Assistant (re)started: tell it everything

    def _call(self, callback: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback)


def _door(is_open: bool) -> bytes:
    return (DOOR_ON if is_open else DOOR_OFF).encode()


def _json(config: dict[str, Any]) -> bytes:
    return json.dumps(config, ensure_ascii=False, separators=(",", ":")).encode()
