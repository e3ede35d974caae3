"""Site files: the shipped demo loads; each fault stops loading at `path:line: where: reason`."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import DEFAULT_SITE
from gateway.places.site import Level, Mount, load_site
from sensors.errors import FileError
from sensors.kinds import Kind
from tests.support import fault_line

FIXTURES = Path(__file__).parents[2] / "fixtures"


def load_error(path: Path) -> FileError:
    with pytest.raises(FileError) as caught:
        load_site(path)
    return caught.value


def test_demo_site_places_every_device_with_its_mount_and_path() -> None:
    site = load_site(DEFAULT_SITE)

    assert site.name == "光明社区演示"
    assert str(site.timezone) == "Asia/Shanghai"
    doors = {f"door-b{b}-u{u}" for b in (1, 2, 3) for u in (1, 2)}
    smokes = {f"smoke-b{b}-u1" for b in (1, 2, 3)}
    assert set(site.devices) == {"gate-g1"} | doors | smokes
    gate = site.devices["gate-g1"]
    assert (gate.kind, gate.mount) == (Kind.DOOR, Mount.GATE)
    assert gate.node_ids() == ("d1", "s1", "c1", "g1")
    door = site.devices["door-b1-u1"]
    assert (door.kind, door.mount) == (Kind.DOOR, Mount.UNIT_DOOR)
    assert door.node_ids() == ("d1", "s1", "c1", "g1", "b1", "b1-u1")
    assert door.node.level == Level.UNIT
    assert door.place() == "光明社区 / 第1网格 / 1号楼 / 1单元 / 单元门"
    smoke = site.devices["smoke-b1-u1"]
    assert (smoke.kind, smoke.mount) == (Kind.SMOKE, Mount.UNIT)


def test_demo_site_indexes_every_node_by_its_path() -> None:
    site = load_site(DEFAULT_SITE)

    units = {f"b{b}-u{u}" for b in (1, 2, 3) for u in (1, 2)}
    assert set(site.nodes) == {"d1", "s1", "c1", "g1", "b1", "b2", "b3"} | units
    path = site.nodes["b1-u2"]
    assert [n.level for n in path] == [
        Level.DISTRICT,
        Level.STREET,
        Level.COMMUNITY,
        Level.GRID,
        Level.BUILDING,
        Level.UNIT,
    ]
    assert [n.name for n in path][-2:] == ["1号楼", "2单元"]
    assert site.placement("no-such-device") is None


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("site.invalid-yaml.yaml", "invalid YAML"),
        ("site.unknown-key.yaml", "floors"),
        ("site.unknown-kind.yaml", "unknown sensor kind 'lamp'"),
        ("site.duplicate-node-id.yaml", "node id 'b1-u1' is used twice"),
        ("site.duplicate-device-id.yaml", "device id is used twice"),
        ("site.door-on-building.yaml", "a door sensor stands on a unit"),
        ("site.smoke-on-grid.yaml", "a smoke sensor stands on a unit or building"),
        ("site.unknown-timezone.yaml", "unknown timezone 'Asia/Atlantis'"),
        ("site.missing-name.yaml", "name: Field required"),
        ("site.duplicate-key.yaml", "duplicate key 'name'"),
    ],
)
def test_site_fault_is_reported_at_its_line(fixture: str, reason: str) -> None:
    path = FIXTURES / fixture

    error = load_error(path)

    assert str(error).startswith(f"{path}:{fault_line(path)}:"), str(error)
    assert reason in str(error)
    assert error.path == path


def test_each_problem_renders_as_path_line_where_reason() -> None:
    path = FIXTURES / "site.unknown-kind.yaml"

    error = load_error(path)

    [problem] = error.problems
    where = "district.streets[0].communities[0].grids[0].buildings[0].units[0].devices[1].kind"
    assert problem.where == where
    assert str(error) == f"{path}:{problem.line}: {where}: {problem.reason}"


def test_misplaced_device_names_the_device() -> None:
    error = load_error(FIXTURES / "site.door-on-building.yaml")

    assert [p.where for p in error.problems] == ["door-b2"]


def test_empty_site_file_names_the_missing_sections() -> None:
    path = FIXTURES / "site.empty.yaml"

    error = load_error(path)

    assert [p.where for p in error.problems] == ["name", "district"]
    assert all(line.startswith(f"{path}: ") for line in str(error).splitlines())


def test_missing_site_file_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"

    error = load_error(path)

    assert str(error).startswith(f"{path}: cannot read file")


def test_site_file_that_is_not_a_mapping_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")

    error = load_error(path)

    assert str(error).startswith(f"{path}:1:")


def test_several_problems_in_one_file_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(
        "name: x\n"
        "district:\n"
        "  id: d1\n"
        "  name: D\n"
        "  streets:\n"
        "    - id: d1\n"  # line 6: the district's id again
        "      name: S\n"
        "      communities:\n"
        "        - id: c1\n"
        "          name: C\n"
        "          devices:\n"
        "            - {id: smoke-c1, kind: smoke}\n",  # line 12: smoke on a community
        encoding="utf-8",
    )

    error = load_error(path)

    assert [p.line for p in error.problems] == [6, 12]
    assert len(str(error).splitlines()) == 2


def test_a_big_site_file_is_read_in_a_child_process_with_the_same_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gateway.places.site

    monkeypatch.setattr(gateway.places.site, "BIG_FILE_BYTES", 0)  # every file counts as big
    site = load_site(DEFAULT_SITE)
    assert len(site.devices) == 10
    path = FIXTURES / "site.unknown-key.yaml"
    error = load_error(path)
    assert error.path == path
    assert error.problems[0].line == fault_line(path)
