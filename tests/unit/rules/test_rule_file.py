"""Rule files: the shipped default loads; each fault is reported at its line."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from rules.model import DEFAULT_RULES, HeldRule, ImmediateRule, Severity, load_rules
from sensors.errors import FileError
from sensors.kinds import Kind
from tests.support import fault_line

FIXTURES = Path(__file__).parents[2] / "fixtures"


def load_error(path: Path) -> FileError:
    with pytest.raises(FileError) as caught:
        load_rules(path)
    return caught.value


def test_shipped_rules_hold_doors_and_raise_smoke_at_once() -> None:
    rules = {rule.id: rule for rule in load_rules(DEFAULT_RULES).rules}

    door = rules["door_left_open"]
    assert isinstance(door, HeldRule)
    assert (door.kind, door.field, door.equals) == (Kind.DOOR, "open", True)
    assert door.hold_s == 180
    assert door.night is not None
    assert (door.night.start, door.night.end, door.night.hold_s) == (time(22), time(6), 30)
    smoke = rules["smoke_detected"]
    assert isinstance(smoke, ImmediateRule)
    assert (smoke.kind, smoke.field, smoke.severity) == (Kind.SMOKE, "smoke", Severity.CRITICAL)


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("rules.unknown-when.yaml", "'sometimes'"),
        ("rules.field-not-of-kind.yaml", "kind 'door' has no field 'smoke'"),
        ("rules.zero-hold.yaml", "greater than 0"),
        ("rules.duplicate-id.yaml", "rule id 'door_left_open' is used twice"),
        ("rules.empty-night.yaml", "night start and end are the same time"),
    ],
)
def test_rule_fault_is_reported_at_its_line(fixture: str, reason: str) -> None:
    path = FIXTURES / fixture

    error = load_error(path)

    assert str(error).startswith(f"{path}:{fault_line(path)}:"), str(error)
    assert reason in str(error)


@pytest.mark.parametrize(
    "fixture", ["rules.field-not-of-kind.yaml", "rules.zero-hold.yaml", "rules.empty-night.yaml"]
)
def test_rule_problem_location_names_no_union_member(fixture: str) -> None:
    """`held`/`immediate` are pydantic's names for the union members, not keys in the file."""
    error = load_error(FIXTURES / fixture)

    for problem in error.problems:
        parts = problem.where.replace("[", ".").replace("]", "").split(".")
        assert "held" not in parts, problem.where
        assert "immediate" not in parts, problem.where


def test_zero_hold_is_reported_on_the_hold_key() -> None:
    error = load_error(FIXTURES / "rules.zero-hold.yaml")

    assert [p.where for p in error.problems] == ["rules[0].hold_s"]


def test_negative_night_hold_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - id: r\n"
        "    when: held\n"
        "    kind: door\n"
        "    field: open\n"
        "    hold_s: 60\n"
        "    night:\n"
        "      start: '22:00'\n"
        "      end: '06:00'\n"
        "      hold_s: -5\n"
        "    title: {zh: 门, en: Door}\n",
        encoding="utf-8",
    )

    error = load_error(path)

    assert str(error).startswith(f"{path}:10: rules[0].night.hold_s:")


def test_empty_rule_file_says_rules_are_required(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")

    error = load_error(path)

    assert [p.where for p in error.problems] == ["rules"]


@pytest.mark.parametrize(
    ("written", "line", "reason"),
    [
        ("start: 22:00", 8, "write the time in quotes"),  # YAML 1.1: the number 1320
        ("start: '22:00+08:00'", 8, "without an offset"),
    ],
)
def test_a_night_start_not_written_as_a_local_time_in_quotes_is_refused_at_its_line(
    tmp_path: Path, written: str, line: int, reason: str
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - id: r\n"
        "    when: held\n"
        "    kind: door\n"
        "    field: open\n"
        "    hold_s: 60\n"
        "    night:\n"
        f"      {written}\n"
        "      end: '06:00'\n"
        "      hold_s: 30\n"
        "    title: {zh: 门, en: Door}\n",
        encoding="utf-8",
    )

    error = load_error(path)

    assert str(error).startswith(f"{path}:{line}: rules[0].night.start:"), str(error)
    assert reason in str(error)
