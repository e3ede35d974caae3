"""An accelerated day of cases: the simulator generates a site and its people, residents
and grid workers report cases at the seeds' rate (scaled up for a small site), workers
accept, handle, sometimes fail verification, ask for more time or hand a case back; the
gateway runs on the simulator's clock (working-time deadlines, reminders, escalations at
its speed); `gridgate simulate score --cases` checks that every case reached the state
its truth says and prints the KPIs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gateway.runtime.broker import LocalBroker
from tests.support import ADMIN_TOKEN, REPO, GatewayProcess

pytestmark = pytest.mark.integration

MONDAY = "2026-03-09T00:00:00+08:00"


def simulate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "simulate", *args],
        capture_output=True, text=True, timeout=300, cwd=REPO, env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.mark.long
def test_an_accelerated_day_of_cases_scores_clean(
    gateways: Callable[..., GatewayProcess], broker: LocalBroker, topic_root: str, tmp_path: Path
) -> None:
    site, roster, truth = tmp_path / "site.yaml", tmp_path / "people.yaml", tmp_path / "truth.jsonl"
    made = simulate("site", "--seed", "3", "--communities", "2", "--grids", "2",
                    "--buildings", "3", "--out", str(site), "--roster", str(roster))  # fmt: skip
    assert made.returncode == 0, made.stderr
    # the generated people name SMS and chat robots this test has none of: no channels
    people = yaml.safe_load(roster.read_text(encoding="utf-8"))
    for person in people["people"]:
        person["channels"] = []
    roster.write_text(yaml.safe_dump(people, allow_unicode=True), encoding="utf-8")
    gw = gateways(
        broker.port,
        topic_root,
        site_file=site,
        extra_env={
            "GRIDGATE_ROSTER_FILE": str(roster),
            "GRIDGATE_CLOCK": "event",
            "GRIDGATE_CASES__REPORTS_PER_IP": "10000",
            "GRIDGATE_LOG__LEVEL": "INFO",
        },
    )
    env = {"SIM_ADMIN_TOKEN": ADMIN_TOKEN}
    api = ["--api", gw.base_url, "--token-env", "SIM_ADMIN_TOKEN"]
    run = simulate(
        "cases", *api, "--port", str(broker.port), "--topic-root", topic_root,
        "--site", str(site), "--roster", str(roster), "--seed", "5", "--start-at", MONDAY,
        "--duration-s", "86400", "--speed", "1500", "--rate-scale", "12",
        "--truth", str(truth), env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr + run.stdout
    rows = [json.loads(line) for line in truth.read_text(encoding="utf-8").splitlines()][1:]
    assert len(rows) >= 15  # 4 grids x 0.53 a day x 12
    ends = {r["ends_as"] for r in rows}
    assert "closed" in ends
    assert {r["source"] for r in rows} == {"resident", "patrol"}
    scored = simulate("score", "--cases", str(truth), *api, env=env)
    (REPO / "test-artifacts").mkdir(exist_ok=True)
    (REPO / "test-artifacts" / "cases-simulated-day.txt").write_text(
        run.stderr + scored.stdout, encoding="utf-8"
    )
    assert scored.returncode == 0, scored.stdout + scored.stderr
    assert "clean" in scored.stdout
    assert "closure_rate" in scored.stdout
