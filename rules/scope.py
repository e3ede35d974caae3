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

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from sensors.kinds import Kind

LEVELS = ("district", "street", "community", "grid", "building", "unit")


@dataclass(frozen=True, slots=True)
class Where:
    """One device and its place: (level, node id, node name) from the district down."""

    device_id: str
    kind: Kind
    name: str | None
    path: tuple[tuple[str, str, str], ...]
    tags: frozenset[str] = field(default=frozenset())

    def node_at(self, level: str) -> tuple[str, str] | None:
        """(node id, node name) of the node at `level` on this device's path."""
        for node_level, node_id, name in self.path:
            if node_level == level:
                return node_id, name
        return None

    def up_to(self, node_id: str, kind: Kind) -> Where:
        """The node `node_id` on this device's path as a subject of its own (a building
        alert): its path ends at that node, it has no device name."""
        depth = next(i for i, step in enumerate(self.path) if step[1] == node_id)
        return Where(node_id, kind, None, self.path[: depth + 1])


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
        if self.tags & where.tags:
            return True
        return any(node_id in self.nodes for _, node_id, _ in where.path)
