"""Where: a device's place, held as the steps above its node and that node's strings."""

from __future__ import annotations

from pathlib import Path

from gateway.places.registry import Registry
from gateway.places.site import load_site
from rules.scope import Scope, Where
from sensors.kinds import Kind
from tests.unit.rules.rulekit import place

DEMO_SITE = Path(__file__).parents[3] / "gateway" / "defaults" / "site.demo.yaml"
PATH = (
    ("community", "c1", "阳光社区"),
    ("building", "b3", "3号楼"),
    ("unit", "b3-u2", "2单元"),
)


def test_a_path_given_whole_comes_back_whole() -> None:
    where = Where.on("door-1", Kind.DOOR, "2单元门", PATH, frozenset({"elderly_alone"}))

    assert where.path == PATH
    assert where.up == PATH[:-1]
    assert where == Where.on("door-1", Kind.DOOR, "2单元门", PATH, frozenset({"elderly_alone"}))


def test_an_empty_path_stays_empty() -> None:
    where = Where.on("door-x", Kind.DOOR, None, ())

    assert where.path == ()
    assert where.node_at("unit") is None
    assert not where.is_under(frozenset({"c1"}))


def test_the_node_at_a_level_is_found_on_the_device_s_own_node_and_above() -> None:
    where = Where.on("door-1", Kind.DOOR, None, PATH)

    assert where.node_at("unit") == ("b3-u2", "2单元")
    assert where.node_at("community") == ("c1", "阳光社区")
    assert where.node_at("grid") is None


def test_a_scope_covers_a_device_under_any_node_of_its_path() -> None:
    where = Where.on("door-1", Kind.DOOR, None, PATH)

    assert Scope(nodes=frozenset({"b3-u2"})).covers("door-1", where)
    assert Scope(nodes=frozenset({"c1"})).covers("door-1", where)
    assert not Scope(nodes=frozenset({"b4"})).covers("door-1", where)


def test_a_node_as_a_subject_ends_its_path_at_that_node() -> None:
    building = Where.on("door-1", Kind.DOOR, "2单元门", PATH).up_to("b3", Kind.AVAILABILITY)

    assert building.path == PATH[:2]
    assert (building.device_id, building.name, building.kind) == ("b3", None, Kind.AVAILABILITY)


def test_the_test_kit_s_places_read_back_as_built() -> None:
    where = place("door-9", building="b2", unit="u1")

    assert where.path[-1] == ("unit", "b2-u1", "1")
    assert where.node_at("building") == ("b2", "2号楼")


def test_the_registry_gives_each_device_its_whole_path_and_shares_the_steps_above() -> None:
    site = load_site(DEMO_SITE)
    where = Registry(site, []).where()

    for device_id, placement in site.devices.items():
        expected = tuple((n.level.value, n.id, n.name) for n in placement.location)
        assert where[device_id].path == expected
    by_parent: dict[tuple[str, ...], list[Where]] = {}
    for w in where.values():
        by_parent.setdefault(tuple(step[1] for step in w.up), []).append(w)
    siblings = next(group for group in by_parent.values() if len(group) > 1)
    assert all(w.up is siblings[0].up for w in siblings)
