"""Where a rule applies: which devices, by node id, device id or tag.

A rule without `scope` covers the whole site. With one, a device is covered when its id is
listed, when any node on its path (community, grid, building, unit...) is listed, or when
it carries a listed tag (the site marks devices, e.g. `elderly_alone`):

    scope: {nodes: [c-sunshine]}             # a community
    scope: {nodes: [b-3], devices: [gate-1]} # a building, plus one gate
    scope: {tags: [elderly_alone]}           # devices the site lists for care visits

`Where` is what the engine knows about a device's place; the gateway builds it from its site.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from sensors.kinds import Kind

LEVELS = ("district", "street", "community", "grid", "building", "unit")


Step = tuple[str, str, str]  # (level, node id, node name)


@dataclass(frozen=True, slots=True)
class Where:
    """One device and its place: (level, node id, node name) from the district down.

    Held as the steps above the device's own node (`up`, one tuple shared by every device
    of a building) and that node's three strings: most devices are alone on their node (a
    unit's door), and a path tuple of their own cost 150 bytes each, 13 MB at 100,000
    doors. `Where.on(...)` takes a whole path; `path` gives it back."""

    device_id: str
    kind: Kind
    name: str | None
    up: tuple[Step, ...]
    level: str | None = None  # the last node on the path; None: the path is empty
    node_id: str = ""
    node_name: str = ""
    tags: frozenset[str] = field(default=frozenset())

    @classmethod
    def on(
        cls,
        device_id: str,
        kind: Kind,
        name: str | None,
        path: tuple[Step, ...],
        tags: frozenset[str] = frozenset(),
    ) -> Where:
        if not path:
            return cls(device_id, kind, name, (), tags=tags)
        level, node_id, node_name = path[-1]
        return cls(device_id, kind, name, path[:-1], level, node_id, node_name, tags)

    @property
    def path(self) -> tuple[Step, ...]:
        if self.level is None:
            return self.up
        return (*self.up, (self.level, self.node_id, self.node_name))

    def node_at(self, level: str) -> tuple[str, str] | None:
        """(node id, node name) of the node at `level` on this device's path."""
        if level == self.level:
            return self.node_id, self.node_name
        for node_level, node_id, name in self.up:
            if node_level == level:
                return node_id, name
        return None

    def is_under(self, node_ids: frozenset[str]) -> bool:
        """Whether any node on this device's path is one of `node_ids`."""
        if self.level is not None and self.node_id in node_ids:
            return True
        return any(node_id in node_ids for _, node_id, _ in self.up)

    def up_to(self, node_id: str, kind: Kind) -> Where:
        """The node `node_id` on this device's path as a subject of its own (a building
        alert): its path ends at that node, it has no device name."""
        path = self.path
        depth = next(i for i, step in enumerate(path) if step[1] == node_id)
        return Where.on(node_id, kind, None, path[: depth + 1])


class NodePlaces:
    """Nodes that stand as subjects of their own (a building whose devices went silent
    together), each reached through one device under it: the node's Where is built when
    asked for, not held for every building of a district."""

    def __init__(self) -> None:
        self._via: dict[str, str] = {}  # node id -> a device under it
        self._kinds: dict[str, Kind] = {}  # node id -> its alerts' kind, when not availability
        self._where: Mapping[str, Where] = {}

    def reset(self, where: Mapping[str, Where]) -> None:
        self._via, self._kinds, self._where = {}, {}, where

    def add(self, node_id: str, device_id: str, kind: Kind) -> None:
        if node_id not in self._via:
            self._via[node_id] = device_id
            if kind != Kind.AVAILABILITY:
                self._kinds[node_id] = kind

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._via

    def get(self, node_id: str) -> Where | None:
        device_id = self._via.get(node_id)
        place = self._where.get(device_id) if device_id is not None else None
        if place is None:
            return None
        return place.up_to(node_id, self._kinds.get(node_id, Kind.AVAILABILITY))


class Scope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    nodes: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    def covers(self, device_id: str, where: Where | None) -> bool:
        if device_id in self.devices:
            return True
        if where is None:
            return False
        if self.tags and not self.tags.isdisjoint(where.tags):
            return True
        return bool(self.nodes) and where.is_under(self.nodes)
