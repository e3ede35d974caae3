"""The results file of bench/doors.py (markdown), its console lines, and a py-spy summary."""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.door_score import END_LAG_MAX_S, GROWTH_MAX_S, WINDOW_S, pct

REPO = Path(__file__).resolve().parent.parent
TARGETS = {
    "storm": 15_000,
    "ingest": 20_000,
}
RATIO = 1.5
RSS_TARGET_MB = 250
# a results file's hand-written part starts here; bench/doors.py --out keeps it
BY_HAND = "## Reading the figures (written by hand after the run)"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "∞"
    return f"{value * 1000:,.0f}" if abs(value) >= 1 else f"{value * 1000:,.1f}"


def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def summarize_profile(raw: Path, top: int = 20, *, gil: bool = False) -> str:
    """py-spy raw (collapsed stacks, --threads): threads, self time, and inclusive time of
    the functions of gridgate's own packages. `gil`: recorded with --gil (only the thread
    holding the GIL is sampled, so the shares are of the one core Python code runs on)."""
    if not raw.exists():
        return "py-spy wrote no profile"
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    tasks: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        if frames and frames[0].startswith(("thread ", "process ")):
            threads[frames[0]] += n
            frames = frames[1:]
        if not frames:
            continue
        leaf[frames[-1]] += n
        tasks[_task(frames)] += n
        for name in set(frames):
            if re.search(r"\((gateway|rules|sensors)/", name):
                inclusive[name] += n
    if not total:
        return "no samples"
    sampled = "the thread holding the GIL only" if gil else "busy threads only"
    lines = [f"samples: {total} (100 Hz, {sampled})", "", "threads:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in threads.most_common(8)]
    lines += ["", "by task (two frames under the loop's callback; the pool thread's work item):"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in tasks.most_common(12)]
    lines += ["", "self time (leaf frames):"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in leaf.most_common(top)]
    lines += ["", "inclusive, gridgate's own functions:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top + 5)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """`Store.apply (gateway/store/db.py:343)` → `Store.apply (gateway/store/db.py)`."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def _task(frames: list[str]) -> str:
    """What a sample was doing: the two frames under the event loop's `Handle._run`, or
    the one under a pool thread's `_WorkItem.run` (where `asyncio.to_thread` work runs)."""
    under = [i for i, f in enumerate(frames) if f.startswith(("Handle._run", "_WorkItem.run"))]
    if not under:
        return "(other) " + _short(frames[-1])
    i = under[-1]
    if frames[i].startswith("_WorkItem"):
        return "pool: " + _short(frames[i + 1]) if i + 1 < len(frames) else "pool"
    return "loop: " + " > ".join(_short(f) for f in frames[i + 1 : i + 3])


def print_step(r: Any) -> None:
    s = r.score
    print(
        f"  {r.target} {r.mode} {r.rate:,}{' (profiled)' if r.profiled else ''}: "
        f"achieved {r.achieved:,.0f} gen-lag p99 {_ms(r.gen_lag_p99_s)} ms "
        f"held {s.held} missed {s.missed_raises}+{s.missed_clears} false {s.false} "
        f"dup {s.duplicates} p50/p99/max {_ms(pct(s.late_s, 50))}/{_ms(pct(s.late_s, 99))}/"
        f"{_ms(max(s.late_s, default=None))} ms end-lag {_ms(s.end_lag_s)} ms "
        f"grew {s.has_grown} cpu {r.cpu_ms_per_1k.get('target', 0):.0f} ms/1k "
        f"others {r.machine['others_cores']:.2f} cores steal {r.machine['steal_pct']:.0f} % "
        f"({r.target_cpu_pct:.0f} %) rss {r.rss_mb:.0f} MB backlog {r.backlog_end:,} "
        f"sustained {r.is_sustained}",
        flush=True,
    )
    for reason, count in r.score.false_other.most_common(5):
        print(f"    false: {count} x {reason}", flush=True)


def _step_row(r: Any) -> str:
    s = r.score
    late = s.late_s
    return (
        f"| {r.target}{' (profiled)' if r.profiled else ''} | {r.rate:,} | {r.doors:,} | "
        f"{r.achieved:,.0f} | {_ms(r.gen_lag_p99_s)} / {_ms(r.gen_lag_max_s)} | {s.held:,} | "
        f"{s.missed_raises} + {s.missed_clears} | {_never(r)} | {s.false} | {s.duplicates} | "
        f"{_ms(pct(late, 50))} / {_ms(pct(late, 99))} / {_ms(max(late, default=None))} | "
        f"{_ms(pct(s.raise_late_s, 99))} / {_ms(pct(s.clear_late_s, 99))} | "
        f"{_ms(s.end_lag_s)} | {'yes' if s.has_grown else 'no'} | "
        f"{'yes' if r.is_sustained else ('invalid' if not r.is_valid else 'no')} | "
        f"{'yes' if r.meets_target else 'no'} | {r.cpu_ms_per_1k.get('target', 0):,.0f} | "
        f"{r.target_cpu_pct:.0f} | {r.rss_mb:,.0f} | {r.backlog_end:,} |"
    )


def _never(r: Any) -> str:
    """Missed raises + clears still not at the receiver once the target had drained."""
    f = r.final
    return "-" if f is None else f"{f.missed_raises} + {f.missed_clears}"


def _resource_row(r: Any) -> str:
    c = r.cpu_ms_per_1k
    rx = r.receiver
    alerts = len(r.score.late_s) + r.score.false + r.score.duplicates
    return (
        f"| {r.target}{' (profiled)' if r.profiled else ''} | {r.rate:,} | {r.sent:,} | "
        f"{c.get('target', 0):,.0f} | {c.get('mosquitto', 0):,.0f} | "
        f"{c.get('generator', 0):,.0f} | "
        f"{c.get('receiver', 0):,.0f} | {rx.get('cpu_pct', 0):.0f} | "
        f"{_ms(rx.get('loop_lag_max_s'))} | {int(rx.get('requests', 0)):,} | {alerts:,} | "
        f"{r.machine['others_cores']:.2f} | {r.machine['steal_pct']:.0f} | "
        f"{r.machine['load_1m']:.1f} |"
    )


def _best(phases: list[Any], mode: str, target: str, *, on_target: bool = False) -> Any:
    for p in phases:
        if p.mode.name == mode and p.target == target:
            return p.best(on_target=on_target)
    return None


def _ran(phases: list[Any], mode: str, target: str) -> bool:
    return any(p.mode.name == mode and p.target == target for p in phases)


def _rate(step: Any) -> str:
    return "none" if step is None else f"{step.rate:,}"


def render(
    phases: list[Any],
    memory: tuple[int, float, float] | None,
    *,
    command: str,
    began: datetime,
    elapsed_s: float,
    timezone: str,
    local_span: tuple[datetime, datetime],
    machine: str,
    step_s: float,
    last_seen: bool,
) -> str:
    out = [
        "# Benchmarks: real door traffic",
        "",
        f"Measured {began:%Y-%m-%d %H:%M} UTC on {machine}; the run took {elapsed_s:,.0f} s. "
        "Reproduce:",
        "",
        f"    {command}",
        "",
        "Zigbee2MQTT door sensors (open, close, ~30 % re-reports of an unchanged state) through "
        "a private Mosquitto to the gateway (a real process, every shipped rule loaded, "
        "door_left_open held 2 s by day and by night) and one webhook, scored at the webhook "
        "receiver against the load generator's ground truth. The naive baseline "
        "(bench/naive.py: one paho subscriber, a heap of timers, one POST per alert, nothing "
        "stored) ran the same ladder in the same run. Steps of "
        f"{step_s:g} s; an alert not at the receiver {5:g} s after its step ended is missed.",
        "",
        f"Site timezone `{timezone}`: local time {local_span[0]:%H:%M}-{local_span[1]:%H:%M} "
        "during the run, so the shipped night windows (door_left_open 22:00-06:00, "
        "door_forced_at_night 01:00-04:00) never apply and the result does not depend on the "
        "hour the benchmark is run (the site file's `timezone`, docs/site.md).",
        "Event time: "
        + (
            "`last_seen` in each payload (ISO 8601, ms)."
            if last_seen
            else "arrival (no last_seen)."
        ),
        "",
    ]
    out += _targets(phases, memory)
    for mode in ("storm", "ingest"):
        ran = [p for p in phases if p.mode.name == mode]
        if not ran:
            continue
        out += ["", f"## {ran[0].mode.title}", ""]
        for p in ran:
            out.append(
                f"- {p.target}: {p.doors:,} doors in the site, start {p.start_s:.1f} s"
                + (f", RSS after warm-up {p.warm_rss_mb:.0f} MB" if p.warm_rss_mb else "")
                + f", {p.warm_alerts} alerts during warm-up"
                + f", CPU with no traffic {100 * p.idle_cores:.0f} % of a core"
            )
        out += [
            "",
            "| target | offered msg/s | doors | achieved | gen lag p99 / max ms | held opens | "
            "missed raises + clears | never arrived | false | dup | past due p50 / p99 / max ms | "
            "p99 raise / clear ms | end-of-step lag ms | lag grew | sustained | on target | "
            "CPU ms / 1k msgs | CPU % of a core | RSS MB | backlog at end (msgs) |",
            "|" + "---|" * 20,
        ]
        out += [_step_row(s) for p in ran for s in p.steps]
        out += [
            "",
            "Resources (CPU ms per 1,000 messages over the step and its grace; the receiver's "
            "loop lag is its 10 ms ticker's worst overshoot; *others' cores busy*: CPU used "
            "on the machine by processes outside the benchmark, in cores, and the hypervisor's "
            "steal time: this machine is shared):",
            "",
            "| target | offered | messages | target | mosquitto | generator | receiver | "
            "receiver CPU % | receiver loop lag max ms | POSTs | alerts | "
            "others' cores busy | steal % | load 1 min |",
            "|" + "---|" * 14,
        ]
        out += [_resource_row(s) for p in ran for s in p.steps]
        notes = [
            (s, note)
            for p in ran
            for s in p.steps
            for note in [*_reasons(s), *[n for n in s.notes if not n.startswith("profile:")]]
        ]
        if notes:
            out += ["", "Notes:", ""]
            out += [f"- {s.target} {s.rate:,}: {note}" for s, note in notes]
        out += ["", f"Lag over time: p99 past due per {WINDOW_S:g} s window of due times, ms:", ""]
        for p in ran:
            for s in p.steps:
                series = ", ".join(_ms(w[1]) if w[2] else "-" for w in s.score.windows)
                out.append(f"- {s.target} {s.rate:,}: {series}")
    out += ["", "## Memory", ""]
    if memory is None:
        out.append("Not measured in this run (`--no-memory`).")
    else:
        doors, start_s, rss = memory
        out.append(
            f"The gateway with {doors:,} doors (every shipped rule), once every door has "
            f"reported: **{rss:.0f} MB** RSS (target ≤ {RSS_TARGET_MB} MB); start {start_s:.1f} s."
        )
    profiles = [
        (s, n) for p in phases for s in p.steps for n in s.notes if n.startswith("profile:")
    ]
    if profiles:
        out += ["", "## Where the gateway's time goes (py-spy)", ""]
        for s, note in profiles:
            out += [f"Storm at {s.rate:,} msg/s, {s.doors:,} doors, one step:", "", "```"]
            out += [note.removeprefix("profile:\n"), "```"]
    out += ["", *METHOD.splitlines()]
    out += _heartbeat_table()
    return "\n".join(out) + "\n"


def _reasons(s: Any) -> list[str]:
    out = [f"false: {n} x {reason}" for reason, n in s.score.false_other.most_common(8)]
    if s.score.false_raises:
        out.append(f"false: {s.score.false_raises} x door_left_open raised for a short open")
    if s.score.ambiguous:
        out.append(f"{s.score.ambiguous} opens made ambiguous by generator lag, not scored")
    if s.score.stale_reopens:
        out.append(f"{s.score.stale_reopens} reopened raises carried an earlier open's opened_at")
    if s.score.matched_by_arrival:
        out.append(f"{s.score.matched_by_arrival} reopened raises matched by arrival time")
    if not s.is_valid:
        out.append("invalid: the generator did not keep to its schedule")
    f = s.final
    if f is not None and (f.missed != s.score.missed or f.false != s.score.false):
        out.append(
            f"after the phase drained: {s.score.missed - f.missed} of {s.score.missed} missed "
            f"events came later (worst {_ms(max(f.late_s, default=None))} ms past due), "
            f"{f.missed_raises} raises and {f.missed_clears} clears never came; "
            f"false {s.score.false} at the grace, {f.false} in all"
        )
    return out


def _targets(phases: list[Any], memory: tuple[int, float, float] | None) -> list[str]:
    rows = ["## Against the targets", ""]
    rows += [
        "| mode | gridgate best sustained msg/s | gridgate best on target | naive best sustained "
        "| naive best on target | gridgate / naive (sustained) |",
        "|---|---|---|---|---|---|",
    ]
    verdicts = []
    for mode in ("storm", "ingest"):
        if not (_ran(phases, mode, "gridgate") or _ran(phases, mode, "naive")):
            continue
        g, g_on = _best(phases, mode, "gridgate"), _best(phases, mode, "gridgate", on_target=True)
        b, b_on = _best(phases, mode, "naive"), _best(phases, mode, "naive", on_target=True)
        ratio = "-" if g is None or b is None else f"{g.rate / b.rate:.2f}"
        rows.append(
            f"| {mode} | {_rate(g)} | {_rate(g_on)} | {_rate(b)} | {_rate(b_on)} | {ratio} |"
        )
        need = TARGETS[mode]
        verdicts.append(
            f"- {mode}: target ≥ {need:,} msg/s on target and ≥ {RATIO}x the baseline: "
            + (
                "met"
                if g_on is not None
                and g_on.rate >= need
                and (b is None or (g is not None and g.rate >= RATIO * b.rate))
                else "**not met**"
            )
        )
    if memory is not None:
        verdicts.append(
            f"- RSS with {memory[0]:,} doors: {memory[2]:.0f} MB (≤ {RSS_TARGET_MB}): "
            + ("met" if memory[2] <= RSS_TARGET_MB else "**not met**")
        )
    rows += ["", *verdicts]
    rows += [
        "",
        "Sustained: the generator kept to its schedule (else *invalid*), no alert missed, the "
        f"p99 past due of the step's last {WINDOW_S:g} s within {END_LAG_MAX_S:g} s, and lag "
        f"did not grow (the trend of the per-window p99 over the step, a Theil-Sen slope, "
        f"adds less than {GROWTH_MAX_S:g} s). "
        "On target: sustained, 0 false, 0 duplicate, p99 past due ≤ 100 ms. "
        "A ladder stops at its first step not sustained (`--keep-going` runs them all).",
    ]
    return rows


METHOD = """\
## Method

- **Traffic** (bench/door_traffic.py). Each door cycles closed → open → closed. An open is
  *held* (1.5-2.5 × the hold, so door_left_open must raise at open + hold and clear at the
  close) or *short* (0.1-0.5 × the hold: nothing may be raised); no open is near the hold.
  Storm: 25 % of opens held and as many doors as msg/s (each door ~1 message a second);
  a step takes the next `rate` doors round a site large enough that no door opens more
  than 28 times in 10 minutes (door_flapping raises above 30: the generator also caps
  each door's opens). Ingest-bound: 2 % held, 50,000 doors. 30 % of messages are
  re-reports of the state a door is in. Payloads are Aqara MCCGQ11LM's through
  Zigbee2MQTT (contact, battery, device_temperature, linkquality, power_outage_count,
  voltage, last_seen), QoS 1, on `zigbee2mqtt/<device_id>`; the doors are the site's.
- **Ground truth** is what the generator sent, not what it planned: each open's and
  close's send instant. Its lag (burst sent after its scheduled instant) is measured; a
  step whose p99 lag exceeds 100 ms, or that reached < 95 % of the rate, is *invalid*.
  An open that its lag pushed between 0.75 and 1.25 holds is left out and counted.
- **Receiver** (bench/receiver.py): asyncio HTTP/1.1 keep-alive, 200 at once, arrival
  recorded; version-1 bodies (one alert per POST) and version-2 (several, each with its
  idempotency key) both count per alert. It runs at nice -5 (it needs a few % of a core;
  its arrival stamps should not wait for the target). Its CPU and loop lag are in the
  resources table. POSTs still arriving from a phase before are dropped and counted.
- **Scoring** (bench/door_score.py): raise due at open + hold, clear due at the close;
  missed = not at the receiver within 5 s of the step's end; false = a raise for a short
  open, a clear with no raise, any other rule's alert, or a door_left_open matching no
  open; duplicate = the same idempotency key twice, or a second raise (clear) for one
  open. Events are matched to opens by `cleared_at` / `opened_at` (the close's and open's
  event time) and the idempotency key; a reopened alert (same id within 600 s of its
  clear) carries its first episode's `opened_at`, so it is matched through its clear, or
  by arrival when that has not come.
- **CPU** per 1,000 messages: /proc CPU time of each process over the step and its grace,
  over the messages of the step. RSS of the target at the end of the step.
- Every process the benchmark starts is stopped by pid; load goes to 127.0.0.1 only.
"""


def _heartbeat_table() -> list[str]:
    """The earlier headline (docs/benchmarks-heartbeats.md: heartbeats with 50 planted
    opens a step), kept as a second table, labelled as such."""
    path = REPO / "docs" / "benchmarks-heartbeats.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    start = text.find("## Highest sustained rate")
    end = text.find("## Every step")
    if start < 0 or end < 0:
        return []
    measured = re.search(r"Measured .*", text)
    section = text[start:end].strip().splitlines()[1:]
    return [
        "",
        "## Second table: heartbeat figures (not door traffic)",
        "",
        "From docs/benchmarks-heartbeats.md (bench/throughput.py): re-reports of a closed "
        "door with 50 planted opens per step, door_left_open alone, alerts read from the "
        "API, not a webhook. Kept for comparison; it is not the workload users have.",
        "",
        *([f"{measured.group(0)}", ""] if measured else []),
        *section,
    ]
