"""docs/benchmarks-heartbeats.md from the results: tables, a plot (matplotlib, when installed), and
where the gateway's time goes (py-spy samples)."""

from __future__ import annotations

import platform
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TARGETS = (
    "20,000 msg/s from 50,000 doors; p99 <= 50 ms past due; <= 250 MB RSS with 100,000 "
    "devices; >= 0.7 of the bare ceiling"
)


def _f(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def summarize_profile(raw: Path, top: int = 15) -> str:
    """py-spy raw (collapsed stacks): the leaf functions and the modules with most samples."""
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        leaf[frames[-1]] += n
        for name in {f.split(" (")[1].split(":")[0] if " (" in f else f for f in frames}:
            inclusive[name] += n
    if not total:
        return "no samples"
    lines = [f"samples: {total}", "", "self time (leaf frames):"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in leaf.most_common(top)]
    lines += ["", "inclusive, by file:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top + 10)]
    return "\n".join(lines)


def _plot(path: Path, results: list[Any], ceiling: list[Any]) -> bool:
    try:
        import matplotlib  # optional: the bench extra

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in results:
        ax.plot([s.target for s in r.steps], [s.achieved if s.is_sustained else 0 for s in r.steps],
                marker="o", label=f"gridgate, {r.doors:,} doors")  # fmt: skip
    ax.plot([s.target for s in ceiling], [s.achieved if s.is_sustained else 0 for s in ceiling],
            marker="s", linestyle="--", label="bare paho + json (ceiling)")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("offered rate (msg/s)")
    ax.set_ylabel("sustained rate (msg/s, 0 = not sustained)")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write(
    out: Path,
    results: list[Any],
    ceiling: list[Any],
    profile: str,
    command: str,
    step_s: float,
    elapsed_s: float,
    incidents: int,
    rules: str = "door",
) -> None:
    png = out.with_suffix(".png")
    has_plot = _plot(png, results, ceiling)
    ceil_best = max((s.target for s in ceiling if s.is_sustained), default=None)
    lines = [
        "# Benchmarks, second table: heartbeats (re-reports of closed doors, not door traffic)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{_cpus()} CPUs, Python {platform.python_version()}; run took {elapsed_s:.0f} s.",
        "Reproduce:",
        "",
        f"    {command}",
        "",
        f"Targets: {TARGETS}.",
        "",
        "Rules: "
        + (
            "every rule gridgate ships (rules/defaults: offline watches, flapping, battery, "
            "night, care...), door_left_open held 2 s day and night."
            if rules == "shipped"
            else "door_left_open alone, held 2 s (`--rules shipped` runs every shipped rule: "
            "docs/benchmarks-shipped.md)."
        ),
        "",
        "## Highest sustained rate",
        "",
        f"Each rate runs {step_s:g} s. Sustained: the publisher reached 95 % of the rate,",
        f"the gateway had received every message within 2 s of the end, and the {incidents}",
        "planted door_left_open alerts (hold 2 s) were raised once each with no other",
        "alert (simulator.scorer), none more than 1 s past due (the gateway counts a message",
        "as received before its step runs: a backlog shows as alerts raised seconds late).",
        "On time: sustained, and p99 past due within the 50 ms target as well.",
        "",
        "| doors | start s | RSS MB | best sustained msg/s | p50 ms past due | p99 ms | "
        "CPU ms / 1,000 msgs | x ceiling | best on time msg/s | its p99 ms | x ceiling |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        b = r.best
        t = r.best_on_time
        ratio = None if (b is None or not ceil_best) else b.target / ceil_best
        t_ratio = None if (t is None or not ceil_best) else t.target / ceil_best
        lines.append(
            f"| {r.doors:,} | {r.start_s:.1f} | {r.rss_mb:.0f} | {_f(b.target if b else None)} | "
            f"{_f(b.p50_ms if b else None, 1)} | {_f(b.p99_ms if b else None, 1)} | "
            f"{_f(b.cpu_ms_per_1000 if b else None, 1)} | {_f(ratio, 2)} | "
            f"{_f(t.target if t else None)} | {_f(t.p99_ms if t else None, 1)} | "
            f"{_f(t_ratio, 2)} |"
        )
    lines += [
        "",
        f"Ceiling (bare paho subscriber parsing JSON): {_f(ceil_best)} msg/s sustained.",
        "",
    ]
    lines += [
        "## Every step",
        "",
        "| doors | offered | achieved | caught up s | CPU ms/1k | "
        "missed | false | dup | p50 ms | p99 ms | sustained |",
        "|---" * 11 + "|",
    ]
    for r in results:
        for s in r.steps:
            lines.append(
                f"| {r.doors:,} | {s.target:,} | {s.achieved:,.0f} | {_f(s.caught_up_s, 2)} | "
                f"{_f(s.cpu_ms_per_1000, 1)} | {s.missed} | {s.false} | {s.duplicate} | "
                f"{_f(s.p50_ms, 1)} | {_f(s.p99_ms, 1)} | {'yes' if s.is_sustained else 'no'} |"
            )
    for s in ceiling:
        lines.append(
            f"| ceiling | {s.target:,} | {s.achieved:,.0f} | {_f(s.caught_up_s, 2)} | "
            f"{_f(s.cpu_ms_per_1000, 1)} | - | - | - | - | - | "
            f"{'yes' if s.is_sustained else 'no'} |"
        )
    if has_plot:
        lines += ["", f"![sustained rate]({png.name})"]
    lines += ["", "## Where the time goes (py-spy on the gateway)",
              "", "```", profile or "(not profiled)", "```", ""]  # fmt: skip
    analysis = out.with_name("benchmarks.analysis.md")
    if analysis.exists():
        lines += [analysis.read_text(encoding="utf-8")]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


@dataclass
class _Step:
    target: int
    achieved: float
    is_sustained: bool


@dataclass
class _Doors:
    doors: int
    steps: list[_Step]


def replot(markdown: Path) -> Path:
    """Draw a results file's plot again from its "Every step" table (the PNG beside it)."""
    by_doors: dict[str, list[_Step]] = {}
    in_table = False
    for line in markdown.read_text(encoding="utf-8").splitlines():
        if line.startswith("## Every step"):
            in_table = True
            continue
        if in_table and line.startswith("## "):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        if not in_table or len(cells) != 11 or not cells[1].replace(",", "").isdigit():
            continue
        step = _Step(int(cells[1].replace(",", "")), float(cells[2].replace(",", "")),
                     cells[10] == "yes")  # fmt: skip
        by_doors.setdefault(cells[0], []).append(step)
    ceiling = by_doors.pop("ceiling", [])
    results = [_Doors(int(d.replace(",", "")), steps) for d, steps in by_doors.items()]
    png = markdown.with_suffix(".png")
    if not _plot(png, results, ceiling):
        raise SystemExit("matplotlib is not installed (pip install -e '.[bench]')")
    return png


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:]:
        print(replot(Path(name)))
