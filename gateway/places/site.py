"""The site: the grid hierarchy and the devices placed in it, read from one YAML file.

    district 区 → street 街道 → community 社区 → grid 网格 → building 楼栋 → unit 单元

Every node has an `id` (unique across the whole site) and a `name` people read. Devices
stand on a node: door sensors on a unit (its entrance) or on a grid or community (a
compound gate), smoke sensors on a unit or a building. See docs/site.md for the format.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rules.scope import Step, Where
from sensors.errors import FileError, Problem
from sensors.kinds import PLACED_KINDS, Kind
from sensors.native import DEVICE_ID_PATTERN
from sensors.yamlfile import Loc, dotted, line_of, load_model

NodeId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
DeviceId = Annotated[str, Field(pattern=f"^{DEVICE_ID_PATTERN}$")]


class Level(StrEnum):
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"
    BUILDING = "building"
    UNIT = "unit"


LEVEL_NAMES_ZH = {
    Level.DISTRICT: "区",
    Level.STREET: "街道",
    Level.COMMUNITY: "社区",
    Level.GRID: "网格",
    Level.BUILDING: "楼栋",
    Level.UNIT: "单元",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceSpec(_Strict):
    id: DeviceId
    kind: Kind
    name: str | None = None
    # words rules can scope on, e.g. `elderly_alone` for a door watched for care visits
    tags: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]] = []

    @field_validator("kind", mode="before")
    @classmethod
    def _placed(cls, kind: object) -> object:
        if kind not in PLACED_KINDS:
            known = ", ".join(k.value for k in PLACED_KINDS)
            raise ValueError(f"unknown sensor kind {kind!r} (known: {known})")
        return kind


class UnitSpec(_Strict):
    id: NodeId
    name: str
    devices: list[DeviceSpec] = []
    # residents who asked for an SMS when their unit door is left open
    resident_phones: list[Annotated[str, Field(pattern=r"^\+?[0-9]{5,15}$")]] = []


class BuildingSpec(_Strict):
    id: NodeId
    name: str
    units: list[UnitSpec] = []
    devices: list[DeviceSpec] = []


class GridSpec(_Strict):
    id: NodeId
    name: str
    buildings: list[BuildingSpec] = []
    devices: list[DeviceSpec] = []


class CommunitySpec(_Strict):
    id: NodeId
    name: str
    grids: list[GridSpec] = []
    devices: list[DeviceSpec] = []


class StreetSpec(_Strict):
    id: NodeId
    name: str
    communities: list[CommunitySpec] = []


class DistrictSpec(_Strict):
    id: NodeId
    name: str
    streets: list[StreetSpec] = []


class SiteFile(_Strict):
    """What a site file may say."""

    name: str
    timezone: str = "Asia/Shanghai"
    district: DistrictSpec

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value


@dataclass(frozen=True, slots=True)
class Node:
    level: Level
    id: str
    name: str


NO_TAGS: frozenset[str] = frozenset()


class Mount(StrEnum):
    """Where a device stands, in words a grid leader uses."""

    UNIT_DOOR = "unit_door"  # a door sensor on a unit entrance
    GATE = "gate"  # a door sensor on a compound or community gate
    UNIT = "unit"  # inside a unit's shared space (stairwell, corridor)
    BUILDING = "building"  # somewhere in a building (lift, basement, roof)
    GROUNDS = "grounds"  # outdoors in a compound or community (manhole, flood gauge)


# Which levels a sensor kind may stand on; kinds not listed may stand on any of the four.
_SENSOR_LEVELS: dict[str, tuple[Level, ...]] = {
    "door": (Level.UNIT, Level.GRID, Level.COMMUNITY),
    "smoke": (Level.UNIT, Level.BUILDING),
    "gas": (Level.UNIT, Level.BUILDING),
    "water_leak": (Level.UNIT, Level.BUILDING),
    "climate": (Level.UNIT, Level.BUILDING),
    "ebike": (Level.UNIT, Level.BUILDING),
    "manhole": (Level.GRID, Level.COMMUNITY),
    "lift": (Level.UNIT, Level.BUILDING),
    "water_level": (Level.BUILDING, Level.GRID, Level.COMMUNITY),
}
_ANY_LEVEL = (Level.UNIT, Level.BUILDING, Level.GRID, Level.COMMUNITY)
_LEVEL_MOUNTS = {
    Level.UNIT: Mount.UNIT,
    Level.BUILDING: Mount.BUILDING,
    Level.GRID: Mount.GROUNDS,
    Level.COMMUNITY: Mount.GROUNDS,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement(Where):
    """One device, where it stands, and the path from the district down to that node.

    It is the rule engine's `Where` too (the steps above its node, that node's strings),
    so a district's devices are one object each, not a placement and a copy for the
    engine. Build one with `Placement.at`."""

    location: tuple[Node, ...]
    mount: Mount

    @classmethod
    def at(
        cls,
        device_id: str,
        kind: Kind,
        name: str | None,
        location: tuple[Node, ...],
        mount: Mount,
        tags: frozenset[str] = NO_TAGS,
        ups: Ups | None = None,
    ) -> Placement:
        """A device on `location`'s last node. `ups`: steps already built for the nodes
        above (a site's devices share one tuple per parent node)."""
        *above, node = location
        up = _up_of(tuple(above), ups if ups is not None else Ups())
        return cls(
            device_id, kind, name, up, node.level.value, node.id, node.name, tags,
            location=location, mount=mount,
        )  # fmt: skip

    @property
    def node(self) -> Node:
        return self.location[-1]

    def place(self, lang: str = "zh") -> str:
        """The place in words, from the community down (`阳光社区 / 3号楼 / 2单元`)."""
        words = [n.name for n in self.location if n.level not in (Level.DISTRICT, Level.STREET)]
        if self.name:
            words.append(self.name)
        return " / ".join(words)

    def node_ids(self) -> tuple[str, ...]:
        return tuple(n.id for n in self.location)


@dataclass
class Ups:
    """Steps built so far, by node id, and the tuples above each parent node."""

    steps: dict[str, Step] = field(default_factory=dict)
    above: dict[str, tuple[Step, ...]] = field(default_factory=dict)


def _up_of(above: tuple[Node, ...], ups: Ups) -> tuple[Step, ...]:
    parent_id = above[-1].id if above else ""
    up = ups.above.get(parent_id)
    if up is None:
        up = ups.above[parent_id] = tuple(
            ups.steps.get(n.id) or ups.steps.setdefault(n.id, (n.level.value, n.id, n.name))
            for n in above
        )
    return up


@dataclass(frozen=True)
class Site:
    name: str
    timezone: ZoneInfo
    path: Path | None
    devices: dict[str, Placement]
    nodes: dict[str, tuple[Node, ...]]  # node id -> path from the district to that node
    resident_phones: dict[str, tuple[str, ...]] = field(default_factory=dict)  # unit id -> phones

    def placement(self, device_id: str) -> Placement | None:
        return self.devices.get(device_id)


def _node(level: Level, node_id: str, name: str) -> Node:
    # names repeat across a district ("1单元", "3号楼"): one string each, shared, also
    # through the pickle that brings a big site over from the process that parsed it
    return Node(level, node_id, sys.intern(name))


def _walk(spec: SiteFile) -> Iterator[tuple[Loc, tuple[Node, ...], list[DeviceSpec]]]:
    d = spec.district
    district = _node(Level.DISTRICT, d.id, d.name)
    yield ("district",), (district,), []
    for si, s in enumerate(d.streets):
        street = (district, _node(Level.STREET, s.id, s.name))
        s_loc: Loc = ("district", "streets", si)
        yield s_loc, street, []
        for ci, c in enumerate(s.communities):
            community = (*street, _node(Level.COMMUNITY, c.id, c.name))
            c_loc: Loc = (*s_loc, "communities", ci)
            yield c_loc, community, c.devices
            for gi, g in enumerate(c.grids):
                grid = (*community, _node(Level.GRID, g.id, g.name))
                g_loc: Loc = (*c_loc, "grids", gi)
                yield g_loc, grid, g.devices
                for bi, b in enumerate(g.buildings):
                    building = (*grid, _node(Level.BUILDING, b.id, b.name))
                    b_loc: Loc = (*g_loc, "buildings", bi)
                    yield b_loc, building, b.devices
                    for ui, u in enumerate(b.units):
                        unit = (*building, _node(Level.UNIT, u.id, u.name))
                        yield (*b_loc, "units", ui), unit, u.devices


def node_placement(site: Site, node_id: str, kind: Kind) -> Placement | None:
    """A hierarchy node standing in for a device: the subject of an alert about a whole
    building or grid (all its sensors went silent)."""
    location = site.nodes.get(node_id)
    if location is None:
        return None
    mount = _LEVEL_MOUNTS.get(location[-1].level, Mount.GROUNDS)
    return Placement.at(node_id, kind, None, location, mount)


def mount_for(kind: Kind, level: Level) -> Mount | str:
    """Where a device of `kind` may stand on a node of `level`; a reason when it may not."""
    levels = _SENSOR_LEVELS.get(kind.value, _ANY_LEVEL)
    if level not in levels:
        if kind == Kind.DOOR:
            return "a door sensor stands on a unit (its entrance) or a grid/community (a gate)"
        where = " or ".join(lv.value for lv in levels)
        return f"a {kind.value} sensor stands on a {where}"
    if kind == Kind.DOOR:
        return Mount.UNIT_DOOR if level == Level.UNIT else Mount.GATE
    return _LEVEL_MOUNTS[level]


def compile_site(spec: SiteFile, path: Path | None, lines: Mapping[Loc, int]) -> Site:
    """Cross-check a validated site file and index it; every problem names its line."""
    problems: list[Problem] = []
    nodes: dict[str, tuple[Node, ...]] = {}
    devices: dict[str, Placement] = {}
    ups = Ups()
    for loc, location, device_specs in _walk(spec):
        node = location[-1]
        if node.id in nodes:
            first = nodes[node.id][-1]
            problems.append(
                Problem(
                    line_of(lines, (*loc, "id")),
                    dotted(loc),
                    f"node id {node.id!r} is used twice "
                    f"(also by {first.level.value} {first.name!r})",
                )
            )
            continue
        nodes[node.id] = location
        for di, device in enumerate(device_specs):
            d_loc = (*loc, "devices", di)
            mount = mount_for(device.kind, node.level)
            if not isinstance(mount, Mount):
                problems.append(Problem(line_of(lines, (*d_loc, "kind")), device.id, mount))
                continue
            if device.id in devices:
                problems.append(
                    Problem(line_of(lines, (*d_loc, "id")), device.id, "device id is used twice")
                )
                continue
            devices[device.id] = Placement.at(
                device.id,
                device.kind,
                None if device.name is None else sys.intern(device.name),
                location,
                mount,
                frozenset(device.tags) if device.tags else NO_TAGS,
                ups,
            )
    if problems:
        raise FileError(path or "<site>", problems)
    phones = {
        u.id: tuple(u.resident_phones)
        for s in spec.district.streets
        for c in s.communities
        for g in c.grids
        for b in g.buildings
        for u in b.units
        if u.resident_phones
    }
    return Site(spec.name, ZoneInfo(spec.timezone), path, devices, nodes, phones)


# Past this size the file is read in a child process: parsing leaves hundreds of MB of
# freed-but-kept heap behind (a 100,000-device file: ~600 MB), the compiled site is ~1/4.
BIG_FILE_BYTES = 2 * 1024 * 1024


def load_site(path: Path) -> Site:
    """Read, validate and cross-check a site file; raise FileError naming path and line."""
    try:
        is_big = path.stat().st_size > BIG_FILE_BYTES
    except OSError:
        is_big = False  # _read_site says why it cannot be read
    if not is_big:
        return _read_site(path)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(_read_site, path).result()


def _read_site(path: Path) -> Site:
    spec, lines = load_model(path, SiteFile)
    return compile_site(spec, path, lines)
