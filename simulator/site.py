"""Site files: generate a district of any size deterministically, and read any site file back.

A generated site has one district (示例区) whose streets, communities, grids and buildings
are spread as evenly as the counts allow (`Layout`). Every unit has a door sensor at its
entrance (plus `sensors_per_unit - 1` hazard sensors: gas, water leak, smoke in turn), the
first unit of each building a corridor smoke sensor, every grid a compound-gate door sensor,
with `flood_gauges` a water level gauge in the basement of its first building, and with
`lifts` a lift monitor in every building (`lift-b3`). Ids
depend only on the counts (`b3-u2`, `door-b3-u2`), so another seed keeps the ids; the seed
chooses the names people read (community, gate). A kind that sensors/kinds.py does not
declare yet is not placed (`skipped_kinds` says which).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from simulator.errors import SiteError
from simulator.night import DEFAULT_TIMEZONE
from simulator.vocabulary import (
    DOOR,
    GAS,
    LIFT,
    SIMULATED_KINDS,
    SMOKE,
    WATER_LEAK,
    WATER_LEVEL,
    is_declared,
)

_COMMUNITY_NAMES = (
    "阳光社区", "和平社区", "幸福社区", "建设社区", "友谊社区", "光明社区",
    "新华社区", "丰收社区", "团结社区", "春晖社区", "翠湖社区", "文化社区",
)  # fmt: skip
# more community names for large sites: a place word and a kind of place
_PLACE_WORDS = (
    "金桥", "银河", "东湖", "西园", "南苑", "北辰", "青松", "红旗", "长青", "锦绣", "康乐",
    "桃源", "玉泉", "龙腾", "凤鸣", "华庭", "景明", "安居", "福泰", "瑞祥", "嘉禾", "朝阳",
)  # fmt: skip
_PLACE_KINDS = ("", "花园", "新村", "苑", "里")
_STREET_NAMES = ("和平街道", "建设街道", "解放街道", "人民街道", "中山街道", "长江街道")
_GATE_NAMES = ("南门", "北门", "东门", "西门")
_UNIT_EXTRAS: tuple[tuple[str, str, str], ...] = (
    (GAS, "gas", "燃气探测器"),
    (WATER_LEAK, "leak", "水浸探测器"),
    (SMOKE, "smoke2", "烟感"),
)
_LEVELS = ("district", "street", "community", "grid", "building", "unit")
_CHILDREN = {
    "district": "streets",
    "street": "communities",
    "community": "grids",
    "grid": "buildings",
    "building": "units",
}


@dataclass(frozen=True)
class Layout:
    """How many of each level, in total; spread as evenly as possible over the level above."""

    streets: int = 1
    communities: int = 1
    grids: int = 1
    buildings: int = 3
    units_per_building: int = 2
    sensors_per_unit: int = 1  # the unit door, then gas, water leak, smoke
    flood_gauges: bool = False  # a water level gauge in each grid's first building
    lifts: bool = False  # a lift monitor in each building

    def __post_init__(self) -> None:
        counts = (self.streets, self.communities, self.grids, self.buildings)
        if min(*counts, self.units_per_building, self.sensors_per_unit) < 1:
            raise SiteError(f"every count must be at least 1, got {self}")
        if not self.streets <= self.communities <= self.grids <= self.buildings:
            raise SiteError(
                "need streets <= communities <= grids <= buildings (each has at least one "
                f"below it), got {counts}"
            )

    @classmethod
    def uniform(
        cls,
        communities: int = 1,
        grids_per_community: int = 1,
        buildings_per_grid: int = 3,
        units_per_building: int = 2,
        sensors_per_unit: int = 1,
    ) -> Layout:
        grids = communities * grids_per_community
        return cls(
            1, communities, grids, grids * buildings_per_grid, units_per_building, sensors_per_unit
        )


# The real figures of MISSION.md; buildings and units per grid are our estimate.
PRESETS: dict[str, Layout] = {
    "demo": Layout(),
    # one district: 86 communities, 620 grids (2,600 staff); 6 buildings of 3 units a grid
    "district-620": Layout(6, 86, 620, 3720, 3, sensors_per_unit=3, flood_gauges=True),
    # one sub-district: 19 community grids, 152 compound grids, 489 building-yard grids
    "subdistrict-19": Layout(2, 19, 152, 489, 3, sensors_per_unit=3, flood_gauges=True),
}


@dataclass(frozen=True)
class SimDevice:
    """One device to simulate, and where it stands."""

    device_id: str
    kind: str  # a `sensors.kinds.Kind` value
    name: str | None
    level: str  # the level of the node it stands on: unit, building, grid or community
    place: tuple[str, ...]  # names from the community down, then the device's own name

    @property
    def is_gate(self) -> bool:
        """A door sensor on a grid or community is a compound gate (more traffic)."""
        return self.kind == DOOR and self.level in ("grid", "community")


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


def _device(device_id: str, kind: str, name: str) -> _Flow:
    return _Flow(id=device_id, kind=kind, name=name)


def spread(total: int, parts: int) -> list[int]:
    """`total` split into `parts` counts that differ by at most one, larger ones first."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def skipped_kinds(layout: Layout) -> list[str]:
    """Kinds the layout asks for that sensors/kinds.py does not declare (not placed)."""
    wanted = [kind for kind, _, _ in _UNIT_EXTRAS[: layout.sensors_per_unit - 1]]
    if layout.flood_gauges:
        wanted.append(WATER_LEVEL)
    if layout.lifts:
        wanted.append(LIFT)
    return sorted({k for k in wanted if not is_declared(k)})


def generate_site(
    seed: int,
    communities: int = 1,
    grids_per_community: int = 1,
    buildings_per_grid: int = 3,
    units_per_building: int = 2,
) -> dict[str, Any]:
    """A site of `communities` x `grids_per_community` x ... (the demo's shape by default)."""
    layout = Layout.uniform(
        communities, grids_per_community, buildings_per_grid, units_per_building
    )
    return generate(seed, layout)


def generate(seed: int, layout: Layout) -> dict[str, Any]:
    """The site file's content as plain data, in the key order the file shows."""
    rng = random.Random(f"site/{seed}")
    names = _community_names(rng, seed, layout.communities)
    grid_counts = spread(layout.grids, layout.communities)
    building_counts = spread(layout.buildings, layout.grids)
    community_nodes = []
    grid_n = building_n = 0
    for ci in range(layout.communities):
        grids = []
        number = 1  # buildings are numbered through the community: grid 2 goes on after 1
        for gi in range(grid_counts[ci]):
            grid_n += 1
            count = building_counts[grid_n - 1]
            buildings = [
                _building(building_n + i + 1, number + i, layout, is_first=i == 0)
                for i in range(count)
            ]
            building_n += count
            number += count
            gate = _device(f"gate-g{grid_n}", DOOR, rng.choice(_GATE_NAMES))
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
    streets = []
    first = 0
    for si, count in enumerate(spread(layout.communities, layout.streets)):
        name = _STREET_NAMES[si] if si < len(_STREET_NAMES) else f"第{si + 1}街道"
        streets.append(
            {
                "id": f"s{si + 1}",
                "name": name,
                "communities": community_nodes[first : first + count],
            }
        )
        first += count
    title = f"{names[0]}演示" if layout.communities == 1 else (
        f"示例区（{layout.communities}个社区，{layout.grids}个网格）"
    )  # fmt: skip
    return {
        "name": title,
        "timezone": DEFAULT_TIMEZONE,
        "district": {"id": "d1", "name": "示例区", "streets": streets},
    }


def _community_names(rng: random.Random, seed: int, count: int) -> list[str]:
    pool = list(_COMMUNITY_NAMES)
    rng.shuffle(pool)
    if count > len(pool):  # a second generator: the first draws stay as small sites had them
        more = [f"{w}{k}社区" for k in _PLACE_KINDS for w in _PLACE_WORDS]
        random.Random(f"site-names/{seed}").shuffle(more)
        pool += more
    return [pool[i] if i < len(pool) else f"第{i + 1}社区" for i in range(count)]


def _building(n: int, number: int, layout: Layout, *, is_first: bool) -> dict[str, Any]:
    b = f"b{n}"
    units = []
    for ui in range(1, layout.units_per_building + 1):
        devices = [_device(f"door-{b}-u{ui}", DOOR, "单元门")]
        if ui == 1:
            devices.append(_device(f"smoke-{b}-u{ui}", SMOKE, "楼道烟感"))
        for kind, prefix, name in _UNIT_EXTRAS[: layout.sensors_per_unit - 1]:
            if is_declared(kind):
                devices.append(_device(f"{prefix}-{b}-u{ui}", kind, name))
        units.append({"id": f"{b}-u{ui}", "name": f"{ui}单元", "devices": devices})
    building_devices = []
    if layout.flood_gauges and is_first and is_declared(WATER_LEVEL):
        building_devices.append(_device(f"level-{b}", WATER_LEVEL, "地下车库水位"))
    if layout.lifts and is_declared(LIFT):
        building_devices.append(_device(f"lift-{b}", LIFT, "1号电梯"))
    return {"id": b, "name": f"{number}号楼", "devices": building_devices, "units": units}


def site_yaml(site: dict[str, Any], header: str = "") -> str:
    body = yaml.dump(site, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)
    return (f"# {header}\n" if header else "") + body


def write_site(path: Path, site: dict[str, Any], header: str = "") -> None:
    path.write_text(site_yaml(site, header), encoding="utf-8")


def read_site(path: Path) -> list[SimDevice]:
    """The devices of a site file the simulator can play."""
    return load_site(path).devices


def load_site(path: Path) -> SimSite:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SiteError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        raw = yaml.load(text, Loader=_FastLoader)  # noqa: S506  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise SiteError(f"{path}: not valid YAML: {exc}") from exc
    return site_from_data(raw, str(path))


# The C loader when PyYAML has it: a 100,000-device site reads in seconds, not minutes.
_FastLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
        kind = str(spec.get("kind"))
        if kind not in SIMULATED_KINDS:
            if not is_declared(kind):
                raise SiteError(f"{where}: device {spec['id']}: unknown kind {kind!r}")
            continue  # a kind we do not play (climate, ...): the gateway still knows it
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
