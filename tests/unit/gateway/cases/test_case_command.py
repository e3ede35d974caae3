"""`gridgate cases routes`: who a case event reaches and why, from the files in force."""

from __future__ import annotations

import json

import pytest

from gateway.cli import main
from tests.support import REPO

FIXTURES = REPO / "tests" / "fixtures"
AT = "2026-03-09T10:00:00+08:00"


@pytest.fixture(autouse=True)
def _files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDGATE_ROSTER_FILE", str(FIXTURES / "roster.cases.yaml"))
    monkeypatch.setenv("GRIDGATE_SITE_FILE", str(FIXTURES / "site.two-grids.yaml"))
    monkeypatch.setenv(
        "GRIDGATE_WEBHOOKS", json.dumps([{"name": "people-hook", "url": "http://127.0.0.1:9/"}])
    )


def test_the_dispatch_routes_name_the_grids_workers_on_duty_and_send_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["cases", "routes", "--category", "exposed_rubbish", "--node", "b1"]
    assert main([*args, "--event", "case.dispatch", "--at", AT]) == 0
    out = capsys.readouterr().out
    assert "routes that match, in order: dispatch -> on_duty" in out
    assert "dispatched to: 王芳 (w-g1), 刘洋 (w2-g1)" in out
    assert "webhook" not in out


def test_a_dispatched_case_reaches_its_assignee_and_a_sensor_case_nobody(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["cases", "routes", "--category", "exposed_rubbish", "--node", "b1", "--at", AT]
    assert main([*args, "--event", "case.dispatched", "--assignee", "w2-g1"]) == 0
    out = capsys.readouterr().out
    assert "刘洋 (w2-g1, 138****0006) [dispatches the case]  <- route case handlers" in out
    assert main([*args, "--event", "case.dispatched", "--source", "sensor"]) == 0
    assert "no route matches: nobody is told" in capsys.readouterr().out


def test_an_unknown_category_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cases", "routes", "--category", "nope", "--node", "b1"]) == 2
    assert "--category" in capsys.readouterr().err
