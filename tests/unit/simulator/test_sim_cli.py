"""`gridgate simulate site|plan` through `simulator.cli.main`, no broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.cli import EXIT_USAGE, main
from simulator.site import read_site

START = ["--start-at", "2026-11-25T05:00:00+00:00", "--duration-s", "600"]


def _plan(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    assert main(["plan", *START, *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_plan_is_the_same_for_the_same_seed_and_differs_for_another(
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = _plan(capsys, "--seed", "7")
    assert first == _plan(capsys, "--seed", "7")
    assert first != _plan(capsys, "--seed", "8")
    assert {"topic", "payload"} == set(first[0])
    assert str(first[0]["topic"]).startswith("gridgate/v1/")
    assert str(first[0]["topic"]).endswith("/reading")


def test_plan_plays_the_default_incident_and_writes_its_truth(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    lines = _plan(capsys, "--truth", str(truth), "--topic-root", "t1")
    [alert] = [json.loads(line) for line in truth.read_text().splitlines()]
    assert alert["rule"] == "door_left_open"
    assert alert["due_at"] == "2026-11-25T05:03:20+00:00"  # 13:00:20 local + 180 s
    topic = f"t1/v1/{alert['device_id']}/reading"
    opened = [line for line in lines if line["topic"] == topic]
    assert any(
        line["payload"]
        == {
            "kind": "door",
            "event_at": "2026-11-25T05:00:20.000000+00:00",
            "fields": {"open": True},
        }
        for line in opened
    )


def test_incident_options_replace_the_default(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    _plan(
        capsys,
        "--truth",
        str(truth),
        "--incident",
        "smoke@30:60:smoke-b2-u1",
        "--incident",
        "door_left_open@10:20:door-b3-u2",
        "--day-hold-s",
        "15",
        "--night-hold-s",
        "5",
    )
    alerts = [json.loads(line) for line in truth.read_text().splitlines()]
    assert [(a["rule"], a["device_id"], a["due_at"]) for a in alerts] == [
        ("door_left_open", "door-b3-u2", "2026-11-25T05:00:25+00:00"),
        ("smoke_detected", "smoke-b2-u1", "2026-11-25T05:00:30+00:00"),
    ]


def test_site_writes_a_file_plan_can_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    site = tmp_path / "site.yaml"
    assert (
        main(["site", "--seed", "3", "--out", str(site), "--buildings", "1", "--units", "1"]) == 0
    )
    assert sorted(d.device_id for d in read_site(site)) == ["door-b1-u1", "gate-g1", "smoke-b1-u1"]
    topics = {line["topic"] for line in _plan(capsys, "--site", str(site), "--no-incidents")}
    assert topics == {f"gridgate/v1/{d}/reading" for d in ("door-b1-u1", "gate-g1", "smoke-b1-u1")}


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--incident", "door_left_open@abc:1"], "incident 'door_left_open@abc:1'"),
        (["--incident", "smoke@1:5:door-b1-u1"], "not a smoke sensor"),
        (["--night-hold-s", "10", "--max-ordinary-open-s", "10"], "not below the shorter hold"),
        (["--site", "/nonexistent/site.yaml"], "cannot read"),
    ],
)
def test_bad_options_exit_2_with_a_reason(
    capsys: pytest.CaptureFixture[str], args: list[str], reason: str
) -> None:
    assert main(["plan", *START, *args]) == EXIT_USAGE
    assert reason in capsys.readouterr().err
