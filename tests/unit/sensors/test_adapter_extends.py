"""`extends:`: what a child overrides, what it inherits, and the errors of a bad chain."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sensors.adapt import AdapterSet
from sensors.declared import DeclaredAdapter
from sensors.errors import FileError
from sensors.kinds import Kind
from sensors.load import SHIPPED_DIR, load_adapter
from tests.support import fault_line

FIXTURES = Path(__file__).parents[2] / "fixtures" / "adapters"

SECOND_BRIDGE = """\
name: zigbee2mqtt_b2
extends: zigbee2mqtt
description: a second Zigbee2MQTT bridge, base topic zigbee2mqtt-b2
topics:
  - pattern: zigbee2mqtt-b2/{device_id}
  - pattern: zigbee2mqtt-b2/{device_id}/availability
    message: availability
exclude:
  - zigbee2mqtt-b2/bridge/#
fields:
  tamper: null                    # this bridge's sensors have no tamper switch
  battery: {from: battery, default: 100}
kinds:
  smoke: null
  door:
    battery_low: battery_low
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def maps(adapter: DeclaredAdapter, kind: Kind) -> dict[str, str]:
    return {m.name: m.source for m in adapter.field_maps[kind]}


def test_a_child_replaces_what_it_sets_and_inherits_the_rest(tmp_path: Path) -> None:
    base = load_adapter(SHIPPED_DIR / "zigbee2mqtt.yaml")
    child = load_adapter(write(tmp_path, "zigbee2mqtt_b2", SECOND_BRIDGE))

    assert child.name == "zigbee2mqtt_b2"
    assert child.base == "zigbee2mqtt"
    assert [p.text for p in child.patterns] == [
        "zigbee2mqtt-b2/{device_id}",
        "zigbee2mqtt-b2/{device_id}/availability",
    ]
    assert [e.text for e in child.excludes] == ["zigbee2mqtt-b2/bridge/#"]
    # inherited whole: kind, event time, availability words, the unmatched reason
    assert child.kind == base.kind == "registry"
    assert child.event_time == base.event_time
    assert child.availability == base.availability
    assert child.unmatched is not None
    assert base.unmatched is not None
    assert child.unmatched.reason == base.unmatched.reason
    assert child.unmatched.under.text == "zigbee2mqtt-b2/#"  # derived from its own topics


def test_fields_and_kinds_merge_entry_by_entry_and_null_removes_one(tmp_path: Path) -> None:
    base = load_adapter(SHIPPED_DIR / "zigbee2mqtt.yaml")
    child = load_adapter(write(tmp_path, "zigbee2mqtt_b2", SECOND_BRIDGE))

    door = maps(child, Kind.DOOR)
    assert "tamper" in maps(base, Kind.DOOR)
    assert "tamper" not in door
    assert door["open"] == "contact"  # inherited from the base's kinds.door
    assert door["battery_low"] == "battery_low"  # added by the child's kinds.door
    assert door["voltage"] == "voltage"  # inherited from the base's fields
    battery = next(m for m in child.field_maps[Kind.DOOR] if m.name == "battery")
    assert battery.default == 100
    assert Kind.SMOKE in base.field_maps
    assert Kind.SMOKE not in child.field_maps
    assert set(child.field_maps) == set(base.field_maps) - {Kind.SMOKE}


def test_loading_a_child_changes_nothing_of_its_base_and_gives_the_same_result_again(
    tmp_path: Path,
) -> None:
    before = load_adapter(SHIPPED_DIR / "zigbee2mqtt.yaml")
    first = load_adapter(write(tmp_path / "a", "zigbee2mqtt_b2", SECOND_BRIDGE))
    after = load_adapter(SHIPPED_DIR / "zigbee2mqtt.yaml")
    second = load_adapter(write(tmp_path / "b", "zigbee2mqtt_b2", SECOND_BRIDGE))

    assert (after.field_maps, after.routes) == (before.field_maps, before.routes)
    assert (second.field_maps, second.routes) == (first.field_maps, first.routes)


def test_a_child_reads_messages_as_its_base_does_on_its_own_topics(tmp_path: Path) -> None:
    write(tmp_path, "zigbee2mqtt_b2", SECOND_BRIDGE)
    adapters = AdapterSet.load(extra_dirs=[tmp_path])
    at = datetime(2026, 11, 25, 5, 4, 5, tzinfo=UTC)

    result = adapters.adapt(
        "zigbee2mqtt-b2/door-9", b'{"contact": false, "tamper": true}', at, lambda _: Kind.DOOR
    )

    assert adapters.name_for("zigbee2mqtt-b2/door-9") == "zigbee2mqtt_b2"
    assert getattr(result, "fields", None) == {"open": True, "battery": 100}


def test_a_grandchild_inherits_through_its_parent(tmp_path: Path) -> None:
    write(tmp_path, "zigbee2mqtt_b2", SECOND_BRIDGE)
    path = write(
        tmp_path,
        "zigbee2mqtt_b3",
        "name: zigbee2mqtt_b3\nextends: zigbee2mqtt_b2\n"
        "topics:\n  - pattern: zigbee2mqtt-b3/{device_id}\n",
    )

    grandchild = load_adapter(path)

    assert "tamper" not in maps(grandchild, Kind.DOOR)  # removed by the parent
    assert maps(grandchild, Kind.DOOR)["open"] == "contact"  # from the grandparent
    assert grandchild.unmatched is not None
    assert grandchild.unmatched.under.text == "zigbee2mqtt-b3/#"


def test_an_unknown_base_is_an_error_at_the_extends_line() -> None:
    path = FIXTURES / "adapter.extends-unknown.yaml"

    with pytest.raises(FileError) as caught:
        load_adapter(path)

    assert str(caught.value).startswith(f"{path}:{fault_line(path)}: extends: unknown adapter")
    assert "zigbee2mqtt" in str(caught.value)  # the known names are listed


def test_a_cycle_is_an_error_naming_the_chain(tmp_path: Path) -> None:
    write(tmp_path, "vendor_b", "name: vendor_b\nextends: vendor_a\n")
    path = write(
        tmp_path,
        "vendor_a",
        "name: vendor_a\ndescription: d\nextends: vendor_b\n"
        "topics: [{pattern: 'v/{device_id}'}]\nkind: door\nfields: {open: s}\n",
    )

    with pytest.raises(FileError) as caught:
        load_adapter(path)

    assert f"{tmp_path / 'vendor_b.yaml'}:2: extends: extends itself:" in str(caught.value)
    assert "vendor_a → vendor_b → vendor_a" in str(caught.value)


def test_an_adapter_extending_itself_is_a_cycle(tmp_path: Path) -> None:
    path = write(tmp_path, "vendor", "name: vendor\nextends: vendor\n")

    with pytest.raises(FileError, match="extends itself: vendor → vendor"):
        load_adapter(path)


def test_a_problem_an_override_causes_in_an_inherited_value_names_where_it_was_written(
    tmp_path: Path,
) -> None:
    # the child turns the kind into `door`: the inherited kinds.smoke no longer fits
    path = write(
        tmp_path,
        "doors_only",
        "name: doors_only\nextends: zigbee2mqtt\nkind: door\n"
        "topics:\n  - pattern: doors/{device_id}\n",
    )

    with pytest.raises(FileError) as caught:
        load_adapter(path)

    message = str(caught.value)
    base = SHIPPED_DIR / "zigbee2mqtt.yaml"
    assert f"{path}:2: kinds.smoke: this adapter makes no smoke readings" in message
    assert f"(inherited from {base}:" in message


def test_a_bad_value_inherited_from_a_site_base_is_reported_at_the_extends_line(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        "base_vendor",
        "name: base_vendor\ndescription: d\ntopics: [{pattern: 'b/{device_id}'}]\n"
        "kind: door\nfields: {open: s, battery: {from: b, scale: x}}\n",
    )
    path = write(
        tmp_path,
        "child_vendor",
        "name: child_vendor\nextends: base_vendor\ntopics: [{pattern: 'c/{device_id}'}]\n",
    )

    with pytest.raises(FileError) as caught:
        load_adapter(path)

    assert str(caught.value).startswith(f"{path}:2: fields.battery.scale:")
    assert f"(inherited from {tmp_path / 'base_vendor.yaml'}:5)" in str(caught.value)


def test_a_child_that_keeps_its_bases_topics_is_refused_beside_it(tmp_path: Path) -> None:
    write(tmp_path, "zigbee_copy", "name: zigbee_copy\nextends: zigbee2mqtt\n")

    with pytest.raises(FileError) as caught:
        AdapterSet.load(extra_dirs=[tmp_path])

    assert "overlaps 'zigbee2mqtt/{device_id}' of zigbee2mqtt" in str(caught.value)


def test_null_outside_an_extending_file_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "vendor",
        "name: vendor\ndescription: d\ntopics: [{pattern: 'v/{device_id}'}]\n"
        "kind: door\nfields: {open: s, battery: null}\n",
    )

    with pytest.raises(FileError, match=rf"{path}:5: fields.battery:"):
        load_adapter(path)
