"""Site files: generate a small community deterministically, and read any site file back.

A generated site has one district (示例区), one street (和平街道), `communities` communities,
`grids_per_community` grids in each, `buildings_per_grid` buildings per grid and
`units_per_building` units per building. Every unit has a door sensor at its entrance, the
first unit of each building a corridor smoke sensor, and every grid a compound-gate door
sensor. Ids depend only on the counts (`b3-u2`, `door-b3-u2`), so a site generated with
another seed keeps its ids; the seed chooses the names people read (community, gate).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sensors.kinds import Kind
from simulator.errors import SiteError
from simulator.night import DEFAULT_TIMEZONE

SIMULATED_KINDS = (Kind.DOOR, Kind.SMOKE)
_COMMUNITY_NAMES = (
    "阳光社区", "和平社区", "幸福社区", "建设社区", "友谊社区", "光明社区",
    "新华社区", "丰收社区", "团结社区", "春晖社区", "翠湖社区", "文化社区",
)  # fmt: skip
_GATE_NAMES = ("南门", "北门", "东门", "西门")
_LEVELS = ("district", "street", "community", "grid", "building", "unit")
_CHILDREN = {
    "district": "streets",
    "street": "communities",
    "community": "grids",
    "grid": "buildings",
    "building": "units",
}


@dataclass(frozen=True)
class SimDevice:
    """One device to simulate, and where it stands."""

    device_id: str
    kind: Kind
    name: str | None
    level: str  # the level of the node it stands on: unit, building, grid or community
    place: tuple[str, ...]  # names from the community down, then the device's own name

    @property
    def is_gate(self) -> bool:
        """A door sensor on a grid or community is a compound gate (more traffic)."""
        return self.kind == Kind.DOOR and self.level in ("grid", "community")


@dataclass(frozen=True)
class SimSite:
    name: str
    timezone: str
    devices: list[SimDevice]


class _Flow(dict[str, Any]):
    """A mapping written on one line (`{id: door-b1-u1, kind: door, name: 单元门}`)."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # indent list items under their key, as people write site files by hand
        super().increase_indent(flow, False)


def _represent_flow(dumper: yaml.SafeDumper, data: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


_Dumper.add_representer(_Flow, _represent_flow)


def _device(device_id: str, kind: Kind, name: str) -> _Flow:
    return _Flow(id=device_id, kind=kind.value, name=name)


def generate_site(
    seed: int,
    communities: int = 1,
    grids_per_community: int = 1,
    buildings_per_grid: int = 3,
    units_per_building: int = 2,
) -> dict[str, Any]:
    """The site file's content as plain data, in the key order the file shows."""
    counts = (communities, grids_per_community, buildings_per_grid, units_per_building)
    if min(counts) < 1:
        raise SiteError(f"every count must be at least 1, got {counts}")
    rng = random.Random(f"site/{seed}")
    pool = list(_COMMUNITY_NAMES)
    rng.shuffle(pool)
    names = [pool[i] if i < len(pool) else f"第{i + 1}社区" for i in range(communities)]
    community_nodes = []
    for ci in range(communities):
        grids = []
        for gi in range(grids_per_community):
            grid_n = ci * grids_per_community + gi + 1
            first_building_n = (grid_n - 1) * buildings_per_grid + 1
            # buildings are numbered through the community: grid 2 goes on after grid 1
            first_number = gi * buildings_per_grid + 1
            buildings = [
                _building(first_building_n + i, first_number + i, units_per_building)
                for i in range(buildings_per_grid)
            ]
            gate = _device(f"gate-g{grid_n}", Kind.DOOR, rng.choice(_GATE_NAMES))
            grids.append(
                {
                    "id": f"g{grid_n}",
                    "name": f"第{gi + 1}网格",
                    "devices": [gate],
                    "buildings": buildings,
                }
            )
        community_nodes.append(
            {"id": f"c{ci + 1}", "name": names[ci], "devices": [], "grids": grids}
        )
    return {
        "name": f"{names[0]}演示",
        "timezone": DEFAULT_TIMEZONE,
        "district": {
            "id": "d1",
            "name": "示例区",
            "streets": [{"id": "s1", "name": "和平街道", "communities": community_nodes}],
        },
    }


def _building(n: int, number: int, units_per_building: int) -> dict[str, Any]:
    b = f"b{n}"
    units = []
    for ui in range(1, units_per_building + 1):
        devices = [_device(f"door-{b}-u{ui}", Kind.DOOR, "单元门")]
        if ui == 1:
            devices.append(_device(f"smoke-{b}-u{ui}", Kind.SMOKE, "楼道烟感"))
        units.append({"id": f"{b}-u{ui}", "name": f"{ui}单元", "devices": devices})
    return {"id": b, "name": f"{number}号楼", "devices": [], "units": units}


def site_yaml(site: dict[str, Any], header: str = "") -> str:
    body = yaml.dump(site, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)
    return (f"# {header}\n" if header else "") + body


def write_site(path: Path, site: dict[str, Any], header: str = "") -> None:
    path.write_text(site_yaml(site, header), encoding="utf-8")


def read_site(path: Path) -> list[SimDevice]:
    """The devices of a site file the simulator can play (door and smoke sensors)."""
    return load_site(path).devices


def load_site(path: Path) -> SimSite:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SiteError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SiteError(f"{path}: not valid YAML: {exc}") from exc
    return site_from_data(raw, str(path))


def site_from_data(raw: object, source: str = "<site>") -> SimSite:
    """Walk a site's plain data; only the shape the simulator needs is checked here."""
    if not isinstance(raw, dict) or not isinstance(raw.get("district"), dict):
        raise SiteError(f"{source}: a site file is a mapping with a 'district'")
    devices: list[SimDevice] = []
    _walk(raw["district"], 0, (), devices, source)
    seen: set[str] = set()
    for device in devices:
        if device.device_id in seen:
            raise SiteError(f"{source}: device id {device.device_id!r} is used twice")
        seen.add(device.device_id)
    timezone = raw.get("timezone", DEFAULT_TIMEZONE)
    return SimSite(str(raw.get("name", "")), str(timezone), devices)


def _walk(
    node: dict[str, Any], depth: int, names: tuple[str, ...], out: list[SimDevice], source: str
) -> None:
    level = _LEVELS[depth]
    where = f"{source}: {level} {node.get('id', '?')}"
    if depth >= _LEVELS.index("community"):
        names = (*names, str(node.get("name", node.get("id", ""))))
    for spec in _list(node, "devices", where):
        if not isinstance(spec, dict) or not isinstance(spec.get("id"), str):
            raise SiteError(f"{where}: each device needs an 'id'")
        try:
            kind = Kind(str(spec.get("kind")))
        except ValueError as exc:
            raise SiteError(
                f"{where}: device {spec['id']}: unknown kind {spec.get('kind')!r}"
            ) from exc
        if kind not in SIMULATED_KINDS:
            continue
        name = spec.get("name")
        name = str(name) if name is not None else None
        place = (*names, name) if name else names
        out.append(SimDevice(spec["id"], kind, name, level, place))
    child_key = _CHILDREN.get(level)
    if child_key is None:
        return
    for child in _list(node, child_key, where):
        if not isinstance(child, dict):
            raise SiteError(f"{where}: each entry of {child_key!r} must be a mapping")
        _walk(child, depth + 1, names, out, source)


def _list(node: dict[str, Any], key: str, where: str) -> list[Any]:
    value = node.get(key) or []
    if not isinstance(value, list):
        raise SiteError(f"{where}: {key!r} must be a list")
    return value
