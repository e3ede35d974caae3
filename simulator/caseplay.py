"""Cases people report and work on, planned ahead: residents and grid workers report
problems at the rate the seeds give, workers accept, handle, sometimes fail verification,
ask for more time or hand a case back, with realistic delays; and the ground truth of
what each case must end as. Pure: a site, a roster, a seed and a start in; the plan out.

Rate: one district of 620 grids took about 120,000 requests a year (MISSION.md), about
0.53 cases per grid per day; `rate_scale` multiplies it. About 60 % come from residents
(the public report page), the rest from grid workers on patrol. Reports follow the
daily curve of people's activity (none between 01:00 and 06:00).

A case's script is a list of steps, each at a simulated offset from its report:

    resident:  file (核实, 10-90 min) | cancel (not confirmed, 5 %)
    then:      accept (5-40 min) → handle (30 min-3 h) → verify (10-60 min)
    sometimes: rework after verify (8 %: handle again, verify again), an extension
               (5 %: asked while handling, approved by the grid leader), a return
               (3 %: the leader dispatches it again to the same person), hold (1 %)

The truth is the state after the last step that falls within the run (`ends_as`), the
number of reworks and approved extensions.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

CASES_PER_GRID_PER_DAY = 120_000 / 365 / 620
RESIDENT_SHARE = 0.6
# simple, common categories of the shipped category file (gateway/defaults/categories.yaml)
CATEGORIES = (
    "exposed_rubbish", "piled_materials", "illegal_parking", "blocked_corridor",
    "street_light", "blocked_sewer", "other",
)  # fmt: skip
# share of the day's reports per local hour (people awake and about)
HOURLY = (0, 0, 0, 0, 0, 0, 1, 3, 6, 8, 8, 7, 5, 6, 7, 7, 7, 6, 5, 4, 3, 2, 1, 1)


@dataclass(frozen=True)
class Grid:
    id: str
    community: str
    buildings: tuple[str, ...]
    workers: tuple[str, ...]
    leader: str | None
    community_staff: tuple[str, ...]


@dataclass
class Step:
    at: datetime
    act: str  # report, file, cancel, accept, handle, verify, rework, request_extension,
    #          approve_extension, return, dispatch, hold
    who: str  # a role in the case: reporter, worker, handler, leader, verifier
    note: str = ""


@dataclass
class PlannedCase:
    key: int  # the plan's own number (the gateway's id comes when it is reported)
    source: str  # resident or patrol
    category: str
    grid: Grid
    building: str
    reporter: str  # a resident's phone, or a worker's id
    description: str
    steps: list[Step] = field(default_factory=list)
    ends_as: str = "reported"
    reworks: int = 0
    extensions: int = 0

    def truth(self, case_id: int | None) -> dict[str, Any]:
        return {
            "key": self.key,
            "case_id": case_id,
            "source": self.source,
            "category": self.category,
            "grid": self.grid.id,
            "ends_as": self.ends_as,
            "reworks": self.reworks,
            "extensions": self.extensions,
            "steps": [s.act for s in self.steps],
        }


def read_grids(site_path: Path, roster_path: Path) -> list[Grid]:
    """The grids of a site file with their buildings and people of a roster file."""
    site = yaml.safe_load(site_path.read_text(encoding="utf-8"))
    people = yaml.safe_load(roster_path.read_text(encoding="utf-8"))
    people = people["people"] if isinstance(people, dict) else people
    by_node: dict[str, list[dict[str, Any]]] = {}
    for p in people:
        for node in p.get("nodes") or []:
            by_node.setdefault(node, []).append(p)
    out = []
    for street in site["district"].get("streets") or []:
        for community in street.get("communities") or []:
            staff = tuple(p["id"] for p in by_node.get(community["id"], []))
            for grid in community.get("grids") or []:
                here = by_node.get(grid["id"], [])
                buildings = tuple(b["id"] for b in grid.get("buildings") or [])
                out.append(
                    Grid(
                        id=grid["id"],
                        community=community["id"],
                        buildings=buildings or (grid["id"],),
                        workers=tuple(p["id"] for p in here if p["role"] == "grid_worker"),
                        leader=next((p["id"] for p in here if p["role"] == "grid_leader"), None),
                        community_staff=staff,
                    )
                )
    return out


def _minutes(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(minutes=rng.uniform(low, high))


def plan(
    grids: list[Grid],
    seed: int,
    start_at: datetime,
    duration: timedelta,
    tz: ZoneInfo,
    rate_scale: float = 1.0,
) -> list[PlannedCase]:
    """Every case reported in [start_at, start_at + duration) and its script."""
    rng = random.Random(f"cases/{seed}")
    end = start_at + duration
    weights = [w / sum(HOURLY) for w in HOURLY]
    cases: list[PlannedCase] = []
    hour = start_at.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    while hour < end:
        rate = CASES_PER_GRID_PER_DAY * rate_scale * len(grids) * weights[hour.hour]
        count = _poisson(rng, rate)
        for _ in range(count):
            at = hour + timedelta(seconds=rng.uniform(0, 3600))
            if not start_at <= at < end:
                continue
            cases.append(_case(rng, len(cases) + 1, rng.choice(grids), at, end))
        hour += timedelta(hours=1)
    cases.sort(key=lambda c: c.steps[0].at)
    for i, case in enumerate(cases, start=1):
        case.key = i
    return cases


def _poisson(rng: random.Random, rate: float) -> int:
    """Knuth's method (small rates per hour)."""
    limit, k, p = math.exp(-rate), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _case(rng: random.Random, key: int, grid: Grid, at: datetime, end: datetime) -> PlannedCase:
    is_resident = rng.random() < RESIDENT_SHARE or not grid.workers
    category = rng.choice(CATEGORIES)
    case = PlannedCase(
        key=key,
        source="resident" if is_resident else "patrol",
        category="other" if is_resident else category,
        grid=grid,
        building=rng.choice(grid.buildings),
        reporter=f"139{rng.randrange(10**8):08d}" if is_resident else rng.choice(grid.workers),
        description=f"模拟事件 {key}",
    )
    steps = [Step(at, "report", "reporter")]
    t = at
    if is_resident:
        t += _minutes(rng, 10, 90)
        if rng.random() < 0.05:
            steps.append(Step(t, "cancel", "worker", "现场核实无此问题"))
            return _finish(case, steps, end)
        steps.append(Step(t, "file", "worker", "现场核实属实"))
    t += _minutes(rng, 5, 40)
    if rng.random() < 0.03:
        steps.append(Step(t, "return", "assignee", "不属于本网格职责"))
        t += _minutes(rng, 5, 30)
        steps.append(Step(t, "dispatch", "leader", "改派"))
        t += _minutes(rng, 5, 30)
    if rng.random() < 0.01:
        steps.append(Step(t, "hold", "leader", "需上级协调"))
        return _finish(case, steps, end)
    steps.append(Step(t, "accept", "assignee"))
    if rng.random() < 0.05:
        t += _minutes(rng, 10, 40)
        steps.append(Step(t, "request_extension", "handler", "需要协调物业"))
        t += _minutes(rng, 5, 30)
        steps.append(Step(t, "approve_extension", "leader"))
    t += _minutes(rng, 30, 180)
    steps.append(Step(t, "handle", "handler", "已处置"))
    t += _minutes(rng, 10, 60)
    if rng.random() < 0.08:
        steps.append(Step(t, "rework", "verifier", "复核未通过"))
        t += _minutes(rng, 20, 90)
        steps.append(Step(t, "handle", "handler", "已重新处置"))
        t += _minutes(rng, 10, 60)
    steps.append(Step(t, "verify", "verifier"))
    return _finish(case, steps, end)


_ENDS = {
    "report": None,  # resident: reported; patrol: dispatched by routing
    "file": "dispatched",
    "cancel": "cancelled",
    "return": "returned",
    "dispatch": "dispatched",
    "hold": "on_hold",
    "accept": "accepted",
    "request_extension": "accepted",
    "approve_extension": "accepted",
    "handle": "handled",
    "rework": "accepted",
    "verify": "closed",
}


def _finish(case: PlannedCase, steps: list[Step], end: datetime) -> PlannedCase:
    """Keep the steps within the run; the truth is the state after the last of them."""
    case.steps = [s for s in steps if s.at < end]
    last = case.steps[-1].act
    ended = _ENDS[last]
    case.ends_as = ended or ("reported" if case.source == "resident" else "dispatched")
    case.reworks = sum(1 for s in case.steps if s.act == "rework")
    case.extensions = sum(1 for s in case.steps if s.act == "approve_extension")
    return case
