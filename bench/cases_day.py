"""A day of a district's cases, accelerated, scored: `python bench/cases_day.py`.

Generates the district-620 site and its people (no channels), starts a private Mosquitto
and the gateway on event time, plays a simulated Monday of cases (`gridgate simulate
cases`, at the seeds' rate: ~330 for 620 grids) and scores every case against its truth
(`gridgate simulate score --cases`). Prints both outputs and the wall times; exits 1 when
the score is not clean. Use `--preset` for another site, `--speed` to go faster.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gateway_run import REPO, TOKEN, Gateway
from gateway.runtime.broker import LocalBroker


def simulate(*args: str) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "simulate", *args],
        capture_output=True, text=True, cwd=REPO, check=False,
        env={**os.environ, "BENCH_ADMIN_TOKEN": TOKEN},
    )  # fmt: skip
    print(f"simulate {args[0]}: exit {done.returncode} in {time.monotonic() - started:.0f} s")
    print(done.stderr.strip(), done.stdout.strip(), sep="\n")
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="district-620")
    parser.add_argument("--speed", default="400")
    parser.add_argument("--start-at", default="2026-03-09T00:00:00+08:00")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cases-day-") as folder:
        tmp = Path(folder)
        site, roster, truth = tmp / "site.yaml", tmp / "people.yaml", tmp / "truth.jsonl"
        simulate("site", "--preset", args.preset, "--out", str(site), "--roster", str(roster))
        people = yaml.safe_load(roster.read_text(encoding="utf-8"))
        for person in people["people"]:
            person["channels"] = []  # nobody to text: the run is about the cases
        roster.write_text(yaml.safe_dump(people, allow_unicode=True), encoding="utf-8")
        broker = LocalBroker(tmp / "mosquitto", persistence=False)
        broker.write_config()
        broker.start()
        gateway = Gateway(
            tmp, broker.port, "casesday", site, 180,
            env={
                "GRIDGATE_ROSTER_FILE": str(roster),
                "GRIDGATE_CLOCK": "event",
                "GRIDGATE_CASES__REPORTS_PER_IP": "10000",
            },
        )  # fmt: skip
        try:
            print(f"gateway healthy after {gateway.start():.0f} s")
            api = ["--api", gateway.url, "--token-env", "BENCH_ADMIN_TOKEN"]
            simulate(
                "cases", *api, "--port", str(broker.port), "--topic-root", "casesday",
                "--site", str(site), "--roster", str(roster), "--start-at", args.start_at,
                "--duration-s", "86400", "--speed", args.speed, "--truth", str(truth),
            )  # fmt: skip
            scored = simulate("score", "--cases", str(truth), *api)
        finally:
            gateway.stop()
            broker.stop()
    return scored.returncode


if __name__ == "__main__":
    sys.exit(main())
