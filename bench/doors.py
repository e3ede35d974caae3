"""Real door traffic, scored where the user sees it: at a webhook receiver.

    python bench/doors.py --quick                       # a few minutes
    python bench/doors.py --mode storm,ingest --rates 2000,5000,10000,15000,20000 --step-s 20
    python bench/doors.py ... --profile --out docs/benchmarks.md

Zigbee2MQTT door sensors (bench/door_traffic.py: opens and closes, ~30 % re-reports of an
unchanged state) go through a private Mosquitto to the gateway, a real process with every
shipped rule loaded (door_left_open held `HOLD_S` day and night) and one webhook, to a
receiver on HTTP/1.1 keep-alive (bench/receiver.py; the processes: bench/door_rig.py). Each
alert is scored against the generator's ground truth (bench/door_score.py): missed, false,
duplicate, past due.

Two modes: storm (25 % of opens held, as many doors as msg/s: each door reports about once
a second) and ingest-bound (2 % held, 50,000 doors). The same ladder runs, in the same run,
against a naive baseline (bench/naive.py). A step is sustained when the receiver is within
1 s of due at its end, lag did not grow over it, and nothing was missed (bench/
door_results.py); the results file's Method section says the rest. Doors report once
(warm-up) before the first step. A last phase reads the gateway's RSS with 100,000 doors
once each has reported.

Not part of the test suite. Load goes to 127.0.0.1 only; every process is stopped by pid.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import door_traffic, doors_report
from bench.door_results import MODES, Mode, Phase, StepResult
from bench.door_rig import (
    HOLD_S,
    GridgateTarget,
    NaiveTarget,
    Receiver,
    Target,
    make_site,
    midday_timezone,
    play,
    wait_for,
)
from bench.door_score import Episode, Scorer, decode, pct
from bench.gateway_run import REPO
from bench.procstat import cpu_s, load_average, machine_cpu, rss_mb
from gateway.runtime.broker import LocalBroker

GRACE_S = 5.0  # an alert not at the receiver this long after the step ended is missed
WARM_RATE = 8000
DRAIN_MAX_S = 120.0
FLAP_WINDOW_S = 600.0  # door_flapping: more than 30 opens in 10 minutes
FLAP_BUDGET = 28  # opens a door may make in any 10 minutes here (margin below 30)
IDLE_S = 5.0  # the target's CPU with no traffic is read this long after the warm-up
MEMORY_DOORS = 100_000


@dataclass
class Run:
    """What a phase needs from the whole run."""

    receiver: Receiver
    timezone: str
    step_s: float
    last_seen: bool
    keep_going: bool
    profile: bool
    profile_rate: int | None = None
    profile_gil: bool = False  # py-spy --gil: only the thread holding the GIL
    seed: int = 1


class PhaseRunner:
    def __init__(
        self, run: Run, mode: Mode, target_name: str, rates: list[int], tree: Path = REPO
    ) -> None:
        """`tree`: the checkout whose gateway runs as the gridgate target (bench/ab.py)."""
        self.run = run
        self.tree = tree
        self.mode = mode
        self.target_name = target_name
        self.rates = rates
        self.opens: dict[int, deque[float]] = {}  # door index -> instants it opened
        self.cursor = 0
        self.total_sent = 0
        self.scorer = Scorer(HOLD_S)

    def site_doors(self) -> int:
        if self.mode.doors is not None:
            return self.mode.doors
        # a storm step takes the next `rate` doors round the site: with this many, no door
        # is used twice (the profile step may reuse some, under the flapping budget)
        return min(MEMORY_DOORS, sum(self.rates) + max(self.rates))

    def execute(self) -> Phase:
        with tempfile.TemporaryDirectory(prefix=f"gg-doors-{self.mode.name}-") as tmp_name:
            tmp = Path(tmp_name)
            broker = LocalBroker(tmp / "mosquitto", persistence=False)
            broker.write_config("max_inflight_messages 0\nmax_queued_messages 1000000")
            broker.start()
            site, self.ids = make_site(self.site_doors(), tmp, self.run.timezone)
            target: Target = (
                GridgateTarget(tmp, broker, site, self.run.receiver.url, self.tree)
                if self.target_name == "gridgate"
                else NaiveTarget(broker, self.run.receiver.url)
            )
            self.broker = broker
            try:
                start_s = target.start()
                phase = self._warm_up(target, start_s)
                for rate in self.rates:
                    step = self._step(target, rate, len(phase.steps))
                    phase.steps.append(step)
                    if not step.is_sustained and not self.run.keep_going:
                        break
                if (
                    self.run.profile
                    and self.target_name == "gridgate"
                    and phase.mode.name == "storm"
                ):
                    failed = [s for s in phase.steps if not s.is_sustained]
                    rate = self.run.profile_rate or (failed[0].rate if failed else self.rates[-1])
                    phase.steps.append(self._step(target, rate, len(phase.steps), profile=True))
                self._final(target, phase)
                return phase
            finally:
                target.stop()
                broker.stop()

    def _warm_up(self, target: Target, start_s: float) -> Phase:
        stale, _ = self.run.receiver.take()  # anything still arriving from the phase before
        if stale:
            print(f"  {len(stale)} POSTs from before this phase, dropped", flush=True)
        _, played = play(
            door_traffic.Traffic(
                self.broker.port, f"warm-{self.target_name}", self.ids, WARM_RATE,
                len(self.ids) / WARM_RATE, 0.0, HOLD_S, self.run.seed, warmup=True,
                last_seen=self.run.last_seen,
            )
        )  # fmt: skip
        self.total_sent += played.sent
        wait_for(lambda: target.received() >= self.total_sent, 300)
        time.sleep(GRACE_S)
        records, _ = self.run.receiver.take()
        cpu0, t0 = cpu_s(target.pid), time.monotonic()
        time.sleep(IDLE_S)
        idle = (cpu_s(target.pid) - cpu0) / (time.monotonic() - t0)
        rss = rss_mb(target.pid) if self.target_name == "gridgate" else None
        print(
            f"{self.target_name} {self.mode.name}: {len(self.ids):,} doors, start {start_s:.1f} s, "
            f"warm-up {played.sent:,} msgs, {len(records)} alerts, RSS {rss or 0:.0f} MB, "
            f"idle {100 * idle:.0f} % of a core",
            flush=True,
        )
        return Phase(self.mode, self.target_name, len(self.ids), start_s, rss, len(records), idle)

    def _final(self, target: Target, phase: Phase) -> None:
        """Score every step again with everything that arrived until the target drained."""
        wait_for(lambda: target.is_drained(self.total_sent), DRAIN_MAX_S, 0.5)
        time.sleep(GRACE_S)
        records, _ = self.run.receiver.take()
        self.scorer.events += decode(records)[0]
        for n, step in enumerate(phase.steps):
            step.final = self.scorer.score(n)

    def _doors_for(self, rate: int) -> list[int]:
        if self.mode.doors is not None:
            return list(range(len(self.ids)))
        count = min(rate, len(self.ids))
        chosen = [(self.cursor + k) % len(self.ids) for k in range(count)]
        self.cursor = (self.cursor + count) % len(self.ids)
        return chosen

    def _budget(self, doors: list[int], now: float) -> list[int]:
        out = []
        for i in doors:
            opens = self.opens.get(i)
            while opens and opens[0] < now - FLAP_WINDOW_S:
                opens.popleft()
            out.append(FLAP_BUDGET - (len(opens) if opens else 0))
        return out

    def _step(self, target: Target, rate: int, n: int, *, profile: bool = False) -> StepResult:
        doors = self._doors_for(rate)
        traffic = door_traffic.Traffic(
            self.broker.port, f"doors-{self.target_name}-{n}", [self.ids[i] for i in doors],
            rate, self.run.step_s, self.mode.held_share, HOLD_S, self.run.seed + 7 * n,
            open_budget=self._budget(doors, time.time()), last_seen=self.run.last_seen,
        )  # fmt: skip
        pids = {
            "target": target.pid,
            "mosquitto": self.broker.pid,
            "receiver": self.run.receiver.pid,
        }
        cpu0: dict[str, float] = {}
        spy: subprocess.Popen[bytes] | None = None
        raw = Path(tempfile.gettempdir()) / f"gg-doors-profile-{time.time_ns()}.txt"

        machine0: list[float] = []

        metrics0 = target.metrics()

        def on_ready() -> None:
            nonlocal spy
            cpu0.update({k: cpu_s(p) for k, p in pids.items() if p})
            machine0.extend([*machine_cpu(), time.process_time(), time.monotonic()])
            if profile:
                spy = subprocess.Popen(
                    [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(target.pid),
                     "-d", str(int(self.run.step_s)), "-r", "100", "-f", "raw", "-o", str(raw),
                     "--nonblocking", "--threads", *(["--gil"] if self.run.profile_gil else [])],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip

        planned, played = play(traffic, on_ready)
        ended_at = played.started_at + played.elapsed_s
        cpu_mid = cpu_s(target.pid)
        self.total_sent += played.sent
        backlog = max(0, self.total_sent - target.received())
        rss = rss_mb(target.pid)
        episodes = []
        for i, opened, closed, _planned in played.episodes:
            held = closed - opened
            is_held = True if held >= 1.25 * HOLD_S else False if held <= 0.75 * HOLD_S else None
            episodes.append(Episode(n, self.ids[doors[i]], opened, closed, is_held))
            self.opens.setdefault(doors[i], deque()).append(opened)
        self.scorer.add_step(n, played.started_at, ended_at, episodes)
        time.sleep(max(0.0, ended_at + GRACE_S - time.time()))
        cpu = {k: (cpu_s(p) - cpu0[k]) for k, p in pids.items() if p}
        cpu["generator"] = played.cpu_s
        busy, steal = machine_cpu()
        wall = time.monotonic() - machine0[3]
        ours = sum(cpu.values()) + time.process_time() - machine0[2]
        machine = {
            "others_cores": max(0.0, (busy - machine0[0] - ours) / wall),
            "steal_pct": 100 * (steal - machine0[1]) / wall / mp.cpu_count(),
            "load_1m": load_average(),
        }
        records, rstats = self.run.receiver.take()
        events, bad = decode(records)
        self.scorer.events += events
        score = self.scorer.score(n)
        lags = [lag for _, lag in played.lag_s]
        result = StepResult(
            self.mode.name, self.target_name, rate, len(doors), planned / self.run.step_s,
            played.sent / played.elapsed_s,
            pct(lags, 99) or 0.0, max(lags, default=0.0), score,
            {k: v * 1e6 / played.sent for k, v in cpu.items()},
            100 * (cpu_mid - cpu0["target"]) / played.elapsed_s, rss, backlog,
            {**rstats, "cpu_pct": 100 * cpu["receiver"] / (ended_at + GRACE_S - played.started_at)},
            played.sent, machine, profiled=profile,
        )  # fmt: skip
        if bad:
            result.notes.append(f"{bad} webhook bodies could not be read")
        metrics = target.metrics()
        if metrics0 and metrics:
            d = {k: metrics.get(k, 0.0) - metrics0.get(k, 0.0) for k in metrics}
            steps, deliveries = d.get("steps", 0.0), d.get("deliveries", 0.0)
            result.notes.append(
                f"gateway /metrics over the step and its grace: {steps:,.0f} pipeline steps "
                f"({steps and played.sent / steps:.1f} msgs each), evaluate "
                f"{steps and 1000 * d.get('evaluate_s', 0) / steps:.1f} ms and write "
                f"{steps and 1000 * d.get('write_s', 0) / steps:.1f} ms a step on average; "
                f"{deliveries:,.0f} webhook deliveries, "
                f"{deliveries and 1000 * d.get('delivery_s', 0) / deliveries:,.0f} ms from "
                "outbox row to delivered on average"
            )
        if not played.acked:
            result.notes.append("the broker had not acknowledged every message 30 s after the step")
        if spy is not None:
            spy.wait(timeout=self.run.step_s + 60)
            summary = doors_report.summarize_profile(raw, gil=self.run.profile_gil)
            result.notes.append("profile:\n" + summary)
            print(f"  py-spy raw profile kept at {raw}", flush=True)
        doors_report.print_step(result)
        # a step not sustained leaves a backlog: let it drain so the next starts clean
        if not result.is_sustained and not wait_for(
            lambda: target.is_drained(self.total_sent), DRAIN_MAX_S, 0.5
        ):
            result.notes.append(f"not drained {DRAIN_MAX_S:.0f} s after the step")
        time.sleep(1.0)
        return result


def memory_point(run: Run) -> tuple[int, float, float] | None:
    """(doors, start s, RSS MB) of the gateway with MEMORY_DOORS doors, each reported once."""
    with tempfile.TemporaryDirectory(prefix="gg-doors-mem-") as tmp_name:
        tmp = Path(tmp_name)
        broker = LocalBroker(tmp / "mosquitto", persistence=False)
        broker.write_config("max_inflight_messages 0\nmax_queued_messages 1000000")
        broker.start()
        site, ids = make_site(MEMORY_DOORS, tmp, run.timezone)
        target = GridgateTarget(tmp, broker, site, run.receiver.url)
        try:
            start_s = target.start()
            _, played = play(
                door_traffic.Traffic(
                    broker.port, "warm-mem", ids, WARM_RATE, len(ids) / WARM_RATE, 0.0, HOLD_S,
                    run.seed, warmup=True, last_seen=run.last_seen,
                )
            )  # fmt: skip
            wait_for(lambda: target.received() >= played.sent, 300)
            time.sleep(3)
            rss = rss_mb(target.pid)
            run.receiver.take()
            print(
                f"memory: {len(ids):,} doors, start {start_s:.1f} s, RSS {rss:.0f} MB", flush=True
            )
            return len(ids), start_s, rss
        finally:
            target.stop()
            broker.stop()


def _exit_cleanly(signum: int, _frame: object) -> None:
    """SIGTERM (and SIGINT, which a background job may have ignored) unwind the `finally`
    blocks, so every process the benchmark started is stopped by pid."""
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, _exit_cleanly)
    signal.signal(signal.SIGINT, _exit_cleanly)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="storm 1,000-5,000, ingest 5,000-10,000"
    )
    parser.add_argument("--mode", default="storm,ingest", help="storm, ingest or both")
    parser.add_argument("--rates", help="msg/s ladder for every mode (default per mode)")
    parser.add_argument("--storm-rates", help="msg/s ladder for storm")
    parser.add_argument("--ingest-rates", help="msg/s ladder for ingest-bound")
    parser.add_argument("--step-s", type=float, default=20.0, help="at least 20 for the record")
    parser.add_argument("--targets", default="gridgate,naive")
    parser.add_argument(
        "--keep-going", action="store_true", help="run every rate even after a failure"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the gateway for one more storm step at the first failing rate",
    )
    parser.add_argument("--profile-rate", type=int, help="... at this rate instead")
    parser.add_argument(
        "--profile-gil",
        action="store_true",
        help="... sampling only the thread that holds the GIL (who the one core goes to)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the 100,000-door RSS point")
    parser.add_argument("--no-last-seen", action="store_true",
                        help="omit last_seen: the gateway stamps arrival time")  # fmt: skip
    parser.add_argument("--out", type=Path, help="results file (markdown), e.g. docs/benchmarks.md")
    args = parser.parse_args()

    def ladder(text: str | None, default: str) -> list[int]:
        return [int(x) for x in (text or args.rates or default).split(",")]

    storm_default, ingest_default = (
        ("1000,2000,5000", "5000,10000") if args.quick else ("2000,5000,10000,15000,20000",) * 2
    )
    ladders = {
        "storm": ladder(args.storm_rates, storm_default),
        "ingest": ladder(args.ingest_rates, ingest_default),
    }
    began = datetime.now(UTC)
    timezone = midday_timezone(began)
    t0 = time.monotonic()
    rx = Receiver()
    run = Run(
        rx, timezone, args.step_s, not args.no_last_seen, args.keep_going, args.profile,
        args.profile_rate, args.profile_gil,
    )  # fmt: skip
    print(f"site timezone {timezone}: local time {began.astimezone(ZoneInfo(timezone)):%H:%M}",
          flush=True)  # fmt: skip
    phases: list[Phase] = []
    memory = None
    try:
        for mode in args.mode.split(","):
            for target in args.targets.split(","):
                rates = ladders[mode]
                if target == "naive":  # on past the top, so that its best is found, not capped
                    rung = rates[-1] - rates[-2] if len(rates) > 1 else rates[-1]
                    rates = [*rates, *range(rates[-1] + rung, 2 * rates[-1] + 1, rung)]
                phases.append(PhaseRunner(run, MODES[mode], target, rates).execute())
        if not args.no_memory and "gridgate" in args.targets:
            memory = memory_point(run)
    finally:
        rx.stop()
    ended = datetime.now(UTC)
    text = doors_report.render(
        phases,
        memory,
        command="python bench/doors.py " + " ".join(sys.argv[1:]),
        began=began,
        elapsed_s=time.monotonic() - t0,
        timezone=timezone,
        local_span=(
            began.astimezone(ZoneInfo(timezone)),
            ended.astimezone(ZoneInfo(timezone)),
        ),
        machine=f"{platform.machine()}, {mp.cpu_count()} CPUs, Python {platform.python_version()}",
        step_s=args.step_s,
        last_seen=not args.no_last_seen,
    )
    if args.out:
        # the hand-written reading of the figures (if the file has one) is kept, at the end
        old = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if doors_report.BY_HAND in old:
            text += "\n" + old[old.index(doors_report.BY_HAND) :]
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", flush=True)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
