"""Bad adapter files: each refused, at the line of the fault, with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensors.errors import FileError
from sensors.load import load_adapter

FIXTURES = Path(__file__).parents[2] / "fixtures" / "adapters"


BAD_FILES = [
    ("adapter.unknown-key.yaml", 8, "event_tme: Extra inputs are not permitted"),
    ("adapter.field-not-of-kind.yaml", 8, "fields.smoke: kind 'door' has no field 'smoke'"),
    ("adapter.invert-on-number.yaml", 10, "fields.battery.invert: invert needs a true/false"),
    ("adapter.scale-on-bool.yaml", 9, "fields.open.scale: scale and offset need a number"),
    ("adapter.map-value-wrong-type.yaml", 10, "fields.open.map.open: expected true or false"),
    ("adapter.default-out-of-range.yaml", 8, "fields.battery.default: 150 is above 100"),
    ("adapter.pattern-without-device-id.yaml", 4, "needs a {device_id} level"),
    ("adapter.pattern-partial-placeholder.yaml", 4, "one whole {placeholder}"),
    ("adapter.overlapping-patterns.yaml", 5, "overlaps 'vendor/{device_id}/up' of this file"),
    ("adapter.unknown-kind.yaml", 5, "kind: unknown kind 'lamp'"),
    ("adapter.required-field-unmapped.yaml", 5, "door readings need 'open'"),
    ("adapter.bad-regex.yaml", 6, "placeholders.device_id: invalid regular expression"),
    ("adapter.unknown-hook.yaml", 8, "hook: sensors.hooks.acme has no function"),
    ("adapter.bad-time-format.yaml", 10, "event_time.format: Input should be 'iso8601'"),
    ("adapter.kinds-not-made.yaml", 9, "kinds.smoke: this adapter makes no smoke readings"),
    ("adapter.invalid-yaml.yaml", 8, "invalid YAML"),
    ("adapter.extends-unknown.yaml", 2, "extends: unknown adapter 'zigbee2mqtt_v2'"),
]


@pytest.mark.parametrize(("fixture", "line", "reason"), BAD_FILES)
def test_bad_adapter_file_is_refused_at_its_line(fixture: str, line: int, reason: str) -> None:
    path = FIXTURES / fixture

    with pytest.raises(FileError) as caught:
        load_adapter(path)

    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert reason in message
    assert len(caught.value.problems) == 1, message


def test_every_fault_fixture_is_covered() -> None:
    covered = {p.name for p in FIXTURES.glob("adapter.*.yaml")}
    site_level = {
        "adapter.duplicate-name.yaml",  # refused only beside the shipped adapters
        "adapter.overlaps-zigbee2mqtt.yaml",
        "adapter.overlaps-native.yaml",
    }
    tested = {fixture for fixture, _, _ in BAD_FILES}

    assert covered == tested | site_level


@pytest.mark.parametrize(
    ("hook", "reason"),
    [
        ("sensors.hooks.nothing_here:decode", "cannot import sensors.hooks.nothing_here"),
        ("os:system", "String should match pattern"),
    ],
)
def test_hook_outside_sensors_hooks_or_missing_is_refused(
    tmp_path: Path, hook: str, reason: str
) -> None:
    path = tmp_path / "vendor.yaml"
    path.write_text(
        "name: vendor\ndescription: d\ntopics:\n  - pattern: v/{device_id}\n"
        f"kind: door\nfields:\n  open: state\nhook: {hook}\n",
        encoding="utf-8",
    )

    with pytest.raises(FileError) as caught:
        load_adapter(path)

    assert f"{path}:8: hook:" in str(caught.value)
    assert reason in str(caught.value)


def test_several_faults_in_one_file_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "vendor.yaml"
    path.write_text(
        "name: vendor\n"
        "description: d\n"
        "topics:\n"
        "  - pattern: v/{device_id}\n"
        "kind: door\n"
        "fields:\n"
        "  open: {from: state, scale: 3}\n"
        "  colour: c\n",
        encoding="utf-8",
    )

    with pytest.raises(FileError) as caught:
        load_adapter(path)

    lines = str(caught.value).splitlines()
    assert [line.split(": ")[0] for line in lines] == [f"{path}:7", f"{path}:8"]
