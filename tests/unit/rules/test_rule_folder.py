"""Rule files beyond the basics: faults at their line, folders, the shipped defaults, and
the `rules test` command."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from rules.check import main, read_where, render, run
from rules.check import read_readings as read_stream
from rules.model import DEFAULT_RULES, AbsenceRule, load_rules
from sensors.errors import FileError
from sensors.kinds import PLACED_KINDS
from tests.support import fault_line

RULE_FIXTURES = Path(__file__).parents[2] / "fixtures" / "rules"
SHANGHAI_NAME = "Asia/Shanghai"


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("rules.unknown-placeholder.yaml", "unknown placeholder {minutes}"),
        ("rules.unknown-kind.yaml", "unknown sensor kind 'lamp'"),
        ("rules.threshold-both-sides.yaml", "exactly one of above, below"),
        ("rules.node-of-unknown-rule.yaml", "'door_left_open' is not an absence rule"),
        ("rules.unknown-scope-key.yaml", "Extra inputs are not permitted"),
        ("rules.count-zero-window.yaml", "greater than 0"),
    ],
)
def test_rule_fault_is_reported_at_its_line(fixture: str, reason: str) -> None:
    path = RULE_FIXTURES / fixture

    with pytest.raises(FileError) as caught:
        load_rules(path)

    assert str(caught.value).startswith(f"{path}:{fault_line(path)}:"), str(caught.value)
    assert reason in str(caught.value)


def test_a_rule_id_used_in_two_files_of_a_folder_names_both() -> None:
    folder = RULE_FIXTURES / "folder.duplicate-id"
    second = folder / "b.yaml"

    with pytest.raises(FileError) as caught:
        load_rules(folder)

    assert str(caught.value).startswith(f"{second}:{fault_line(second)}:")
    assert str(folder / "a.yaml") in str(caught.value)


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileError, match=r"no \.yaml rule files"):
        load_rules(tmp_path)


def test_shipped_rules_watch_every_placed_kind_by_name() -> None:
    """A new kind in sensors/kinds.py needs a shipped rule of its own (beyond `kind: any`)."""
    shipped = load_rules(DEFAULT_RULES).rules
    named = {kind for rule in shipped if rule.kind != "any" for kind in rule.kinds}

    assert set(PLACED_KINDS) <= named, set(PLACED_KINDS) - named
    offline = [r for r in shipped if isinstance(r, AbsenceRule)]
    assert offline
    assert all(set(PLACED_KINDS) <= set(r.kinds) for r in offline)


def test_rules_test_prints_the_alerts_of_a_recorded_stream(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        [
            str(DEFAULT_RULES),
            str(RULE_FIXTURES / "stream.door-and-heat.jsonl"),
            "--site-json",
            str(RULE_FIXTURES / "site.two-devices.json"),
            "--timezone",
            SHANGHAI_NAME,
        ]
    )

    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[-1] == "4 events from 4 readings"
    assert "raised   door_left_open" in out[1]
    assert "阳光社区 3号楼 1 1单元门已打开3分钟" in out[1]
    assert out[1].startswith("2026-03-02T10:03:00+08:00")
    assert [line.split()[1] for line in out[:-1]] == ["raised", "raised", "cleared", "cleared"]


def test_run_and_render_are_what_the_gateway_calls() -> None:
    where = read_where(RULE_FIXTURES / "site.two-devices.json")
    readings = read_stream(RULE_FIXTURES / "stream.door-and-heat.jsonl")

    events = run(load_rules(DEFAULT_RULES), readings, where, ZoneInfo(SHANGHAI_NAME))

    assert [e.rule_id for e in events] == [
        "high_temperature",
        "door_left_open",
        "door_left_open",
        "high_temperature",
    ]
    assert len(render(events).splitlines()) == 4


def test_rules_test_reports_a_bad_rule_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = tmp_path / "r.jsonl"
    stream.write_text("", encoding="utf-8")

    code = main([str(RULE_FIXTURES / "rules.unknown-kind.yaml"), str(stream)])

    assert code == 2
    assert "unknown sensor kind 'lamp'" in capsys.readouterr().err
