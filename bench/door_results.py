"""What bench/doors.py measures: the modes, one step's result, one phase's (a target and a
mode through its ladder), and the rules that say a step was valid, sustained, on target."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.door_score import END_LAG_MAX_S, StepScore, pct

GEN_LAG_MAX_S = 0.1  # a step whose generator p99 lag exceeds this is invalid


@dataclass(frozen=True)
class Mode:
    name: str
    title: str
    held_share: float
    doors: int | None  # None: as many doors as msg/s


MODES = {
    "storm": Mode("storm", "storm (25 % held, doors = rate)", 0.25, None),
    "ingest": Mode("ingest", "ingest-bound (2 % held, 50,000 doors)", 0.02, 50_000),
}


@dataclass
class StepResult:
    mode: str
    target: str
    rate: int
    doors: int
    offered: float
    achieved: float
    gen_lag_p99_s: float
    gen_lag_max_s: float
    score: StepScore
    cpu_ms_per_1k: dict[str, float]  # process -> CPU ms per 1,000 messages (step + grace)
    target_cpu_pct: float  # of one core, while the step ran
    rss_mb: float
    backlog_end: int  # messages the target had not taken when the step ended
    receiver: dict[str, float]
    sent: int
    # the machine over the step and its grace: cores busy with anything outside the
    # benchmark's processes ("others": other people's work), steal time, load average
    machine: dict[str, float]
    profiled: bool = False
    notes: list[str] = field(default_factory=list)
    # the same step scored again once the phase is over and the target has drained: what
    # was missed at the step's grace but came later, and what never came
    final: StepScore | None = None

    @property
    def is_valid(self) -> bool:
        """The generator kept to its schedule (else the step says nothing of the target)."""
        return self.gen_lag_p99_s <= GEN_LAG_MAX_S and self.achieved >= 0.95 * self.rate

    @property
    def is_sustained(self) -> bool:
        s = self.score
        return (
            self.is_valid
            and s.missed == 0
            and s.end_lag_s is not None
            and s.end_lag_s <= END_LAG_MAX_S
            and not s.has_grown
        )

    @property
    def meets_target(self) -> bool:
        """Sustained, and right: nothing false or twice, p99 past due within 100 ms."""
        p99 = pct(self.score.late_s, 99)
        return (
            self.is_sustained
            and self.score.false == 0
            and self.score.duplicates == 0
            and p99 is not None
            and p99 <= 0.1
        )


@dataclass
class Phase:
    mode: Mode
    target: str
    doors: int
    start_s: float
    warm_rss_mb: float | None
    warm_alerts: int
    idle_cores: float  # CPU of the target with no traffic, after the warm-up
    steps: list[StepResult] = field(default_factory=list)

    def best(self, *, on_target: bool = False) -> StepResult | None:
        ok = [
            s
            for s in self.steps
            if not s.profiled and (s.meets_target if on_target else s.is_sustained)
        ]
        return max(ok, key=lambda s: s.rate) if ok else None


# ---- one phase: a target, a mode, a ladder ---------------------------------------------
