"""A tester runs simulated time faster than the wall: the gateway on event time, the
simulator at 40x, and the scorer comparing the ground truth with the gateway's alerts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.runtime.broker import LocalBroker
from tests.support import REPO, SHIPPED_RULES, GatewayProcess

pytestmark = pytest.mark.integration


# The gateway runs on event time (the simulator's clock), under the shipped rules as they
# are: the simulated start decides day or night, whatever the wall clock says.
DAY = "2026-06-15T10:00:00+08:00"  # door_left_open after 180 s, no night rule
NIGHT = "2026-06-15T02:00:00+08:00"  # 30 s hold, and door_forced_at_night at once


@pytest.mark.long
@pytest.mark.parametrize(
    ("start_at", "rules"),
    [
        (DAY, ["door_left_open", "smoke_detected"]),
        (NIGHT, ["door_forced_at_night", "door_left_open", "smoke_detected"]),
    ],
    ids=["day", "night"],
)
def test_an_accelerated_run_scores_no_miss_no_false_no_duplicate(
    broker: LocalBroker,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
    start_at: str,
    rules: list[str],
) -> None:
    gw = gateways(
        broker.port,
        topic_root,
        rules_file=SHIPPED_RULES,
        extra_env={"GRIDGATE_CLOCK": "event"},
    )
    truth = tmp_path / "truth.jsonl"
    options = {
        "--host": "127.0.0.1",
        "--port": broker.port,
        "--topic-root": topic_root,
        "--seed": 3,
        "--start-at": start_at,
        "--speed": 40,  # 480 s of a community in 12 s
        "--duration-s": 480,
        "--incident": "door_left_open@20:240:door-b1-u1",  # held longer than 180 s
        "--clock-every-s": 0.5,
        "--truth": truth,
    }
    argv = [str(x) for pair in options.items() for x in pair]
    argv += ["--incident", "smoke@300:60:smoke-b2-u1"]
    run = subprocess.run(
        [sys.executable, "-m", "simulator", "run", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    expected = [json.loads(line) for line in truth.read_text().splitlines()]
    assert sorted(e["rule"] for e in expected) == rules

    score = subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator",
            "score",
            "--truth",
            str(truth),
            "--api",
            gw.base_url,
            "--token-env",
            "GG_TOKEN",
            "--until",
            "2100-01-01T00:00:00+00:00",
            "--late-s",
            "5",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "GG_TOKEN": gw.env["GRIDGATE_AUTH__ADMIN_TOKEN"]},
    )
    assert score.returncode == 0, score.stdout + score.stderr
    total = next(line for line in score.stdout.splitlines() if line.startswith("all"))
    expected_n, matched, missed, false, dup, late = total.split()[1:7]
    n = str(len(rules))
    assert (expected_n, matched, missed, false, dup, late) == (n, n, "0", "0", "0", "0"), (
        score.stdout
    )
