"""The generated site file: structure, unique ids, and readable by the gateway and by us."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.places.site import load_site as load_gateway_site  # contract test only
from sensors.kinds import Kind
from simulator.errors import SiteError
from simulator.site import generate_site, load_site, read_site, write_site

DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _nodes(site: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = [("district", site["district"])]
    for street in site["district"]["streets"]:
        out.append(("street", street))
        for community in street["communities"]:
            out.append(("community", community))
            for grid in community["grids"]:
                out.append(("grid", grid))
                for building in grid["buildings"]:
                    out.append(("building", building))
                    out += [("unit", unit) for unit in building["units"]]
    return out


@pytest.fixture
def big_site() -> dict[str, Any]:
    return generate_site(seed=3, communities=2, grids_per_community=2, buildings_per_grid=3)


def test_ids_are_unique_and_well_formed(big_site: dict[str, Any]) -> None:
    nodes = _nodes(big_site)
    node_ids = [node["id"] for _, node in nodes]
    device_ids = [d["id"] for _, node in nodes for d in node.get("devices", [])]
    assert len(set(node_ids)) == len(node_ids)
    assert len(set(device_ids)) == len(device_ids)
    assert all(NODE_ID.fullmatch(i) for i in node_ids)
    assert all(DEVICE_ID.fullmatch(i) for i in device_ids)


def test_every_unit_has_a_door_every_building_a_smoke_sensor_every_grid_a_gate(
    big_site: dict[str, Any],
) -> None:
    nodes = _nodes(big_site)
    grids = [n for level, n in nodes if level == "grid"]
    assert len(grids) == 4
    for grid in grids:
        assert [d["kind"] for d in grid["devices"]] == ["door"]
        assert len(grid["buildings"]) == 3
        for building in grid["buildings"]:
            smoke = [d for u in building["units"] for d in u["devices"] if d["kind"] == "smoke"]
            assert len(smoke) == 1
            assert building["units"][0]["devices"][1]["kind"] == "smoke"
            for unit in building["units"]:
                assert unit["devices"][0]["kind"] == "door"


def test_the_file_has_the_documented_keys_in_order(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    write_site(path, generate_site(seed=7))
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert list(raw) == ["name", "timezone", "district"]
    assert raw["timezone"] == "Asia/Shanghai"
    assert (raw["district"]["name"], raw["district"]["streets"][0]["name"]) == (
        "示例区",
        "和平街道",
    )
    community = raw["district"]["streets"][0]["communities"][0]
    assert list(community) == ["id", "name", "devices", "grids"]
    grid = community["grids"][0]
    assert list(grid) == ["id", "name", "devices", "buildings"]
    assert grid["name"] == "第1网格"
    building = grid["buildings"][0]
    assert (building["name"], building["units"][1]["name"]) == ("1号楼", "2单元")
    assert building["units"][0]["devices"][0] == {
        "id": "door-b1-u1",
        "kind": "door",
        "name": "单元门",
    }
    assert "单元门" in path.read_text(encoding="utf-8")  # written as text, not \u escapes


def test_ids_do_not_depend_on_the_seed() -> None:
    def ids(seed: int) -> list[str]:
        return [n["id"] for _, n in _nodes(generate_site(seed))]

    assert ids(1) == ids(2)
    assert generate_site(1) == generate_site(1)


def test_read_site_returns_every_door_and_smoke_sensor(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    write_site(path, generate_site(seed=7, buildings_per_grid=2, units_per_building=3))
    devices = read_site(path)
    kinds = sorted(d.kind for d in devices)
    assert kinds.count(Kind.DOOR) == 2 * 3 + 1
    assert kinds.count(Kind.SMOKE) == 2
    gate = next(d for d in devices if d.device_id == "gate-g1")
    assert gate.is_gate
    door = next(d for d in devices if d.device_id == "door-b2-u3")
    assert not door.is_gate
    assert door.place[-3:] == ("2号楼", "3单元", "单元门")


def test_read_site_plays_a_hand_written_site(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(
        """
name: 手写
district:
  id: d
  name: 区
  streets:
    - id: s
      name: 街道
      communities:
        - id: c
          name: 社区
          devices: [{id: "gate:main", kind: door}]
          grids:
            - id: g
              name: 网格
              buildings:
                - id: b
                  name: 楼
                  devices: [{id: smoke-b, kind: smoke}]
""",
        encoding="utf-8",
    )
    site = load_site(path)
    assert site.timezone == "Asia/Shanghai"
    assert [(d.device_id, d.level, d.is_gate) for d in site.devices] == [
        ("gate:main", "community", True),
        ("smoke-b", "building", False),
    ]


def test_a_site_with_a_duplicate_device_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "site.duplicate-device.yaml"
    path.write_text(
        "district: {id: d, name: d, streets: [{id: s, name: s, communities: [{id: c, name: c,"
        " devices: [{id: x, kind: door}, {id: x, kind: door}]}]}]}\n",
        encoding="utf-8",
    )
    with pytest.raises(SiteError, match="'x' is used twice"):
        read_site(path)


def test_the_gateway_accepts_the_generated_site(tmp_path: Path) -> None:
    """Contract with gateway.places.site (extra="forbid" and cross-checks); tests may import it."""
    path = tmp_path / "site.yaml"
    write_site(path, generate_site(seed=7, communities=2, grids_per_community=2))
    site = load_gateway_site(path)
    assert sorted(site.devices) == sorted(d.device_id for d in read_site(path))
