"""The `gridgate` command tree: every command listed with its line, a --help with examples
for each, the exit codes (0 ok, 1 failure, 2 bad input or configuration) and shell
completion, through `gateway.cli.main` as the console script calls it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup

from gateway.cli import app, main
from gateway.cli.conventions import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, REFUSED
from tests.support import REPO

# the commands whose command line is their module's own (argparse), and its subcommands
PASS_THROUGH: dict[tuple[str, ...], list[str]] = {
    ("simulate",): ["site", "plan", "run", "receive", "score"],
    ("cases",): ["routes", "report"],
}


def _tree() -> TyperGroup:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    return group


def _paths(group: TyperGroup, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, TyperGroup):
            out += _paths(command, path)
        else:
            out.append(path)
            out += [(*path, sub) for sub in PASS_THROUGH.get(path, [])]
    return out


COMMANDS = _paths(_tree())


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(autouse=True)
def _own_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """None of the machine's GRIDGATE_* settings; the state goes into the test's folder."""
    for name in list(os.environ):
        if name.startswith("GRIDGATE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GRIDGATE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "80")  # help is wrapped to the terminal


def test_the_tree_holds_every_command_of_before_under_its_name() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert names >= {
        "run",
        "demo",
        "check-config",
        "config show",
        "token create",
        "backup",
        "rules test",
        "routes test",
        "sensors check",
        "simulate",
        "simulate site",
        "simulate run",
    }


def test_help_lists_every_command_and_group_with_its_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(capsys, "--help")
    assert code == EXIT_OK
    words = " ".join(out.split())
    assert "Exit codes: 0 ok, 1 failure, 2 bad input or configuration" in words
    assert "--install-completion" in out
    listed = dict(re.findall(r"^  ([a-z-]+) {2,}(\S.*)$", out.split("Commands:")[1], re.M))
    assert set(listed) == {path[0] for path in COMMANDS}
    for name, line in listed.items():
        assert not line.endswith("..."), f"{name}: its line is cut: {line}"
    # a group's line names its commands, so that the first screen shows all of them
    for path in COMMANDS:
        if len(path) == 2 and path[:1] not in PASS_THROUGH:
            line = listed[path[0]]  # "token create ..." or "city run, migrate, ...: ..."
            assert line.startswith(path[0] + " "), line
            assert re.search(rf"\b{path[1]}\b", line.split(":")[0]), line
            code, out, _ = _run(capsys, path[0], "--help")
            assert code == EXIT_OK
            assert re.search(rf"^  {path[1]} {{2,}}\S", out, re.M), out


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_each_command_has_help_with_an_example_of_itself(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, *path, "--help")

    assert code == EXIT_OK
    assert re.search(r"^ *examples:$", out, re.M | re.I), out
    examples = out[re.search(r"^ *examples:$", out, re.M | re.I).end() :]  # type: ignore[union-attr]  # asserted just above
    assert re.search(rf"^ +(\S+=\S+ )*gridgate {' '.join(path)}( |$)", examples, re.M), examples


def test_check_config_exits_0_with_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "check-config")
    assert (code, err) == (EXIT_OK, "")
    assert out.startswith("ok: site ")
    assert "telemetry: off" in out


def test_a_bad_setting_exits_2_with_one_line_per_problem_and_no_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDGATE_MQTT__PORT", "eighty")
    monkeypatch.setenv("GRIDGATE_LOG__LEVEL", "LOUD")
    for command in (["check-config"], ["config", "show"], ["run"], ["backup", "copy.db"]):
        code, _, err = _run(capsys, *command)
        assert code == EXIT_CONFIG, command
        header, *problems = err.strip().splitlines()
        assert header == REFUSED
        assert [p.split(":")[0] for p in problems] == ["GRIDGATE_MQTT__PORT", "GRIDGATE_LOG__LEVEL"]
        assert "Traceback" not in err


def test_a_backup_of_a_database_not_there_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = _run(capsys, "backup", str(tmp_path / "copy.db"))
    assert code == EXIT_FAILED
    assert err.startswith("gridgate backup: ")
    assert not (tmp_path / "copy.db").exists()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["no-such-command"], "No such command"),
        (["check-config", "--bogus"], "No such option: --bogus"),
        (["backup"], "Missing argument 'PATH'"),
        (["demo", "--seed", "seven"], "Invalid value for '--seed'"),
        (["routes", "test"], "give one of --device or --alert"),
        (["routes", "test", "--device", "d", "--alert", "a.json"], "give one of --device"),
        (["routes", "test", "--device", "door-b1-u1", "--event", "exploded"], "'exploded'"),
        (["routes", "test", "--device", "door-b1-u1", "--at", "noon"], "Invalid value for '--at'"),
        (
            [
                "routes",
                "test",
                "--device",
                "door-b1-u1",
                "--rule",
                "door_left_open",
                "--at",
                "2026-12-01T10:30:00",
            ],
            "--at needs an offset",
        ),
        (["routes", "test", "--device", "door-b9", "--rule", "door_left_open"], "'door-b9'"),
        (["token", "create", "nobody"], "'nobody' is not in the roster"),
        (["rules", "test", "no-such-rules.yaml", "readings.jsonl"], "no-such-rules.yaml"),
        (["sensors", "check", "no-such-adapter"], "no-such-adapter.yaml: cannot read file"),
        (["simulate", "site", "--seed", "x"], "invalid int value: 'x'"),
        (["simulate"], "required"),
    ],
)
def test_bad_input_exits_2_and_says_what(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, *argv)

    assert code == EXIT_CONFIG, (out, err)
    assert says in out + err
    assert "Traceback" not in err


def test_routes_test_explains_a_door_alert(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(
        capsys,
        *("routes", "test", "--device", "door-b1-u1", "--rule", "door_left_open"),
        *("--at", "2026-12-01T10:30:00+08:00", "--severity", "critical"),
    )
    assert (code, err) == (EXIT_OK, "")
    assert out.startswith("alert.raised of door_left_open (critical) at 光明社区 / 第1网格 / 1号楼")


def test_routes_test_tells_a_department_as_the_gateway_does(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("routes: [{name: works, notify: [{department: works}]}]\n", "utf-8")
    departments = tmp_path / "departments.yaml"
    departments.write_text(
        "departments: [{id: works, name: 市政, channels: [city-hook]}]\n", encoding="utf-8"
    )
    monkeypatch.setenv("GRIDGATE_ROUTES_FILE", str(routes))
    monkeypatch.setenv("GRIDGATE_CASES__DEPARTMENTS_FILE", str(departments))
    monkeypatch.setenv("GRIDGATE_WEBHOOKS", '[{"name": "city-hook", "url": "http://127.0.0.1:9/"}]')
    code, out, err = _run(
        capsys,
        *("routes", "test", "--device", "door-b1-u1", "--rule", "door_left_open"),
        *("--at", "2026-12-01T10:30:00+08:00"),
    )
    assert (code, err) == (EXIT_OK, "")
    assert "  webhook city-hook: the channel itself (no person named)  <- route works" in out


def test_config_show_prints_the_settings_with_the_password_masked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDGATE_MQTT__PASSWORD", "s3cret-broker")
    code, out, _ = _run(capsys, "config", "show")
    assert code == EXIT_OK
    assert json.loads(out)["mqtt"]["password"] == "*" * 10  # masked
    assert "s3cret-broker" not in out


def test_show_completion_prints_a_script_that_calls_gridgate_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(capsys, "--show-completion", "bash")
    assert code == EXIT_OK
    assert "_GRIDGATE_COMPLETE=complete_bash" in out
    assert re.search(r"^complete .*-F _gridgate_completion gridgate$", out, re.M), out


def test_installed_bash_completion_completes_commands_and_choices(tmp_path: Path) -> None:
    """The script `--install-completion` writes, sourced by a real bash, asks the real
    `gridgate` for the words: commands, then an option's choices."""
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "gridgate").exists(), "the console script of `pip install -e .`"
    env = {"HOME": str(tmp_path), "PATH": f"{bin_dir}:/usr/bin:/bin", "SHELL": "/bin/bash"}

    def shell(*argv: str) -> str:
        done = subprocess.run(
            argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    shell(str(bin_dir / "gridgate"), "--install-completion", "bash")
    script = tmp_path / ".bash_completions" / "gridgate.sh"
    assert script.exists()
    assert str(script) in (tmp_path / ".bashrc").read_text()

    def complete(*words: str) -> list[str]:
        line = " ".join(f"'{w}'" for w in words)
        probe = (
            f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
            'IFS=$"\\n"; _gridgate_completion gridgate; printf "%s\\n" "${COMPREPLY[@]}"'
        )
        return shell("bash", "--norc", "-c", probe).split()

    assert complete("gridgate", "rou") == ["routes"]
    assert complete("gridgate", "routes", "") == ["test"]
    assert "escalated" in complete("gridgate", "routes", "test", "--event", "")
