"""The device registry: the site file's devices plus those added through the API.

The site file is the hierarchy and its devices; the API may add devices to any node of that
hierarchy (persisted in SQLite) but never changes a device the site file declares: edit the
file for those. Readers (the pipeline on the loop, the API in threads) see a consistent
mapping: every change builds a new dict and swaps it in.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway.errors import DeviceConflict, DeviceNotFound, InvalidDevice
from gateway.places.site import Mount, Placement, Site, mount_for
from rules.scope import Where
from sensors.kinds import PLACED_KINDS, Kind
from sensors.native import DEVICE_ID_PATTERN

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceRecord:
    """A device added through the API (or CSV import), as the store keeps it."""

    device_id: str
    kind: Kind
    node_id: str
    name: str | None = None


class Registry:
    def __init__(self, site: Site, added: list[DeviceRecord]) -> None:
        self.site = site
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        # the site's own mapping until a device is added (a copy is 4 MB at 100,000 devices);
        # changes replace the mapping, never edit it
        self._devices: Mapping[str, Placement] = site.devices
        if added:
            devices = dict(site.devices)
            for record in added:
                try:
                    devices[record.device_id] = self._place(record, devices, replacing=False)
                except (InvalidDevice, DeviceConflict) as exc:
                    # the site file changed under a device added earlier: keep running, say so
                    log.warning(
                        "registry_device_skipped device_id=%s reason=%s", record.device_id, exc
                    )
            self._devices = devices

    @property
    def devices(self) -> Mapping[str, Placement]:
        return self._devices

    def placement(self, device_id: str) -> Placement | None:
        return self._devices.get(device_id)

    def kind_of(self, device_id: str) -> Kind | None:
        placement = self._devices.get(device_id)
        return None if placement is None else placement.kind

    def where(self) -> Mapping[str, Where]:
        """Every device's place as the rule engine reads it: a placement is a Where, so
        this is the mapping itself (changes replace it, never edit it)."""
        return self._devices

    def is_from_site(self, device_id: str) -> bool:
        return device_id in self.site.devices

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def check(self, record: DeviceRecord, *, replacing: bool) -> Placement:
        """The placement `record` would get; InvalidDevice or DeviceConflict if none."""
        return self._place(record, self._devices, replacing=replacing)

    def _place(
        self, record: DeviceRecord, devices: Mapping[str, Placement], *, replacing: bool
    ) -> Placement:
        if not _valid_id(record.device_id):
            raise InvalidDevice(record.device_id, f"device id must match {DEVICE_ID_PATTERN}")
        if record.kind not in PLACED_KINDS:
            raise InvalidDevice(record.device_id, f"kind {record.kind.value!r} cannot be placed")
        if record.device_id in self.site.devices:
            raise DeviceConflict(record.device_id, "declared in the site file; edit the file")
        if record.device_id in devices and not replacing:
            raise DeviceConflict(record.device_id, "a device with this id exists")
        location = self.site.nodes.get(record.node_id)
        if location is None:
            raise InvalidDevice(record.device_id, f"node {record.node_id!r} is not in the site")
        mount = mount_for(record.kind, location[-1].level)
        if not isinstance(mount, Mount):
            raise InvalidDevice(record.device_id, mount)
        return Placement.at(record.device_id, record.kind, record.name, location, mount)

    def put(self, placements: list[Placement]) -> None:
        """Add or replace devices already checked."""
        with self._lock:
            devices = dict(self._devices)
            devices.update((p.device_id, p) for p in placements)
            self._devices = devices
        self._changed()

    def remove(self, device_id: str) -> None:
        with self._lock:
            if device_id not in self._devices:
                raise DeviceNotFound(device_id)
            if device_id in self.site.devices:
                raise DeviceConflict(device_id, "declared in the site file; edit the file")
            devices = dict(self._devices)
            del devices[device_id]
            self._devices = devices
        self._changed()

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()


_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)


def _valid_id(device_id: str) -> bool:
    return _DEVICE_ID.fullmatch(device_id) is not None
