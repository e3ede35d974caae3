"""Two versions of the gateway on real door traffic, interleaved: is a change faster?

    python bench/ab.py --base HEAD~1                          # the working tree against HEAD~1
    python bench/ab.py --base 8325886 --head HEAD --rates 2000,3000,4000 --rounds 2

This machine's speed drifts by more than most changes are worth (the same code sustained
storm 3,000 in two runs of five on 2026-12-06), so one headline run against another says
little. Here both versions run the same ladder in the same half hour, base and head taking
turns (base, head, base, head, ...), through bench/doors.py's phase: the same generator,
broker, receiver and scoring, only the gateway's checkout differs. `--base` (and `--head`,
when given) is checked out into a temporary git worktree and removed afterwards; the
gateway process runs from that folder with this checkout's interpreter and packages.

The table at the end gives each step of each run, and for the rates every run sustained
(the same work done by each) the mean CPU per 1,000 messages of each side. gridgate only,
no memory point (bench/doors.py has those). Load goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from statistics import mean
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.door_results import MODES, Phase
from bench.door_rig import Receiver, midday_timezone
from bench.door_score import pct
from bench.doors import PhaseRunner, Run, _exit_cleanly
from bench.doors_report import _ms
from bench.gateway_run import REPO


@contextmanager
def checkout(rev: str | None) -> Iterator[tuple[str, Path]]:
    """(label, folder) of `rev` in a temporary worktree; None: this working tree."""
    if rev is None:
        yield "working tree", REPO
        return
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", rev],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory(prefix=f"gg-ab-{sha}-") as tmp:
        folder = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(folder), sha],
            check=True,
        )
        try:
            yield f"{rev} ({sha})" if rev != sha else sha, folder
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(folder)],
                check=False,
            )


def table(runs: list[tuple[str, Phase]], rates: list[int]) -> str:
    lines = [
        "| run | " + " | ".join(f"{r:,}: p99 ms / CPU-ms per 1k / backlog" for r in rates) + " |",
        "|---|" + "---|" * len(rates),
    ]
    for label, phase in runs:
        by_rate = {s.rate: s for s in phase.steps}
        cells = []
        for rate in rates:
            s = by_rate.get(rate)
            if s is None:
                cells.append("–")
                continue
            mark = "" if s.is_sustained else " (not sustained)"
            cells.append(
                f"{_ms(pct(s.score.late_s, 99))} / {s.cpu_ms_per_1k.get('target', 0):.0f} / "
                f"{s.backlog_end:,}{mark}"
            )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(runs: list[tuple[str, Phase]], sides: list[str], rates: list[int]) -> list[str]:
    """Mean CPU per 1,000 messages of each side at each rate that every run sustained."""
    out = []
    for rate in rates:
        steps = [(label, s) for label, p in runs for s in p.steps if s.rate == rate]
        if len(steps) < len(runs) or not all(s.is_sustained for _, s in steps):
            out.append(f"{rate:,} msg/s: not sustained by every run; compare the table")
            continue
        cpu = {
            side: mean(s.cpu_ms_per_1k.get("target", 0) for label, s in steps if label == side)
            for side in sides
        }
        base, head = (cpu[side] for side in sides)
        out.append(
            f"{rate:,} msg/s, sustained by every run: CPU-ms per 1,000 messages "
            f"{base:.0f} (base) → {head:.0f} (head), {100 * (head / base - 1):+.1f} %"
        )
    return out


def main() -> int:
    signal.signal(signal.SIGTERM, _exit_cleanly)
    signal.signal(signal.SIGINT, _exit_cleanly)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the commit to compare against")
    parser.add_argument("--head", help="the commit to compare (default: the working tree)")
    parser.add_argument("--mode", default="storm", choices=sorted(MODES))
    parser.add_argument("--rates", default="2000,3000,4000", help="msg/s ladder")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each side, taking turns")
    parser.add_argument("--step-s", type=float, default=20.0)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    rates = [int(x) for x in args.rates.split(",")]
    began = datetime.now(UTC)
    timezone = midday_timezone(began)
    local = began.astimezone(ZoneInfo(timezone))
    print(f"site timezone {timezone}: local time {local:%H:%M}", flush=True)
    rx = Receiver()
    run = Run(rx, timezone, args.step_s, last_seen=True, keep_going=True, profile=False)
    runs: list[tuple[str, Phase]] = []
    t0 = time.monotonic()
    try:
        with checkout(args.base) as (base, base_tree), checkout(args.head) as (head, head_tree):
            if base == head:
                parser.error(f"--base and --head are both {base}")
            for n in range(1, args.rounds + 1):
                for label, tree in ((base, base_tree), (head, head_tree)):
                    print(f"== {label}, run {n}", flush=True)
                    runner = PhaseRunner(run, MODES[args.mode], "gridgate", rates, tree)
                    runs.append((label, runner.execute()))
    finally:
        rx.stop()
    print(
        f"\n{args.mode}, steps of {args.step_s:.0f} s, base {base} against head {head}, "
        f"taking turns, {began:%Y-%m-%d %H:%M} UTC, {time.monotonic() - t0:.0f} s:\n"
    )
    labelled = [(f"{label}, run {1 + i // 2}", phase) for i, (label, phase) in enumerate(runs)]
    print(table(labelled, rates))
    print()
    for line in summary(runs, [base, head], rates):
        print(f"- {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
