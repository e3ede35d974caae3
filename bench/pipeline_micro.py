"""The gateway's per-message cost, in one process, without MQTT or HTTP: real door traffic
(opens, closes, re-reports, in Zigbee2MQTT's format) through the real adapters, pipeline,
rule engine (every shipped rule), alert stage and routing, and each step written to a real
SQLite file. Separates deciding a step from writing it.

    python bench/pipeline_micro.py                      # 13,000 doors, batches of 200
    python bench/pipeline_micro.py --batch 30           # steps as small as the storm's
    python bench/pipeline_micro.py --doors 50000 --held 0.02 --batch 500 --profile

Not the benchmark (bench/doors.py is: a real broker, the gateway as a process, alerts at a
receiver); a microscope for the hot path, to measure a change before and after it.
"""

from __future__ import annotations

import argparse
import cProfile
import heapq
import io
import json
import pickle
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.door_rig import make_site, midday_timezone
from bench.gateway_run import shipped_rules
from gateway.alerts.escalation import AlertPolicy
from gateway.alerts.routes import DEFAULT_ROUTES_NO_ROSTER, Known, load_routes
from gateway.alerts.routing import ChannelRef, Router
from gateway.ingest.mqtt import Message
from gateway.pipeline.alerting import AlertStage
from gateway.pipeline.steps import Pipeline
from gateway.places.registry import Registry
from gateway.places.roster import Roster
from gateway.places.site import load_site
from gateway.runtime.stats import Health
from gateway.store import Store
from gateway.store.step import StepWrite, write_step
from gateway.store.writer import Writer
from rules.engine import Engine
from rules.model import load_rules
from sensors.adapt import AdapterSet

HOLD_S = 2.0


class _SimClock:
    """The traffic's own time: the micro feeds a simulated stream faster than it ran."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def wall_seconds(self, span: timedelta) -> float:
        return span.total_seconds()

    def advance(self, at: datetime) -> None:
        return None


class _Cursor:
    rowcount = 1

    def fetchone(self) -> tuple[int]:
        return (0,)


class _NoSql:
    """A connection that executes nothing: what `write_step` costs before SQLite."""

    total_changes = 0

    def execute(self, sql: str, args: object = ()) -> _Cursor:
        return _Cursor()

    def executemany(self, sql: str, rows: object) -> _Cursor:
        self.total_changes += len(list(rows))  # type: ignore[call-overload]
        return _Cursor()


class _CaughtUp:
    def horizon(self, now: datetime) -> datetime | None:
        return now


def _payload(is_open: bool, at: datetime) -> bytes:
    body = {
        "battery": 87,
        "contact": not is_open,
        "device_temperature": 26,
        "linkquality": 143,
        "power_outage_count": 4,
        "voltage": 3015,
        "last_seen": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def traffic(doors: list[str], held: float, start: datetime, rate: float) -> Iterator[Message]:
    """Opens, closes and ~30 % re-reports at `rate` msg/s of simulated time."""
    rng = random.Random(1)
    is_open = dict.fromkeys(doors, False)
    closes: list[tuple[datetime, str]] = []  # a heap: the next close first
    at = start
    step = timedelta(seconds=1 / rate)
    mid = 0
    while True:
        at += step
        mid = mid % 65535 + 1
        if closes and closes[0][0] <= at:  # a close due goes before anything else
            _, door = heapq.heappop(closes)
            is_open[door] = False
        else:
            door = rng.choice(doors)
            if rng.random() >= 0.3 and not is_open[door]:
                is_open[door] = True
                open_s = HOLD_S * (rng.uniform(1.5, 2.5) if rng.random() < held else 0.3)
                heapq.heappush(closes, (at + timedelta(seconds=open_s), door))
        yield Message(f"zigbee2mqtt/{door}", _payload(is_open[door], at), at, mid, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--doors", type=int, default=13_000)
    parser.add_argument("--held", type=float, default=0.25, help="share of opens held")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--messages", type=int, default=60_000)
    # the traffic's own clock: 60,000 messages at 2,000 msg/s are 30 s of storm, so holds
    # run out and alerts are raised and cleared at their steady rate (at 15,000 they
    # were 4 s, mostly before any hold ended: a third of the real cost went unmeasured)
    parser.add_argument("--rate", type=float, default=2_000, help="simulated msg/s")
    parser.add_argument("--profile", action="store_true", help="cProfile the deciding part")
    parser.add_argument(
        "--write-parts",
        action="store_true",
        help="also time a step's rows without SQLite, and pickling it (for a writer process)",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="gg-micro-"))
    now = datetime.now(UTC)
    site_path, doors = make_site(args.doors, tmp, midday_timezone(now))
    site = load_site(site_path)
    rules = load_rules(shipped_rules(tmp / "rules", HOLD_S))
    registry = Registry(site, [])
    engine = Engine(rules, site.timezone, registry.where())
    store = Store(tmp / "g.db")
    health = Health()
    refs = [ChannelRef("webhook", "bench")]
    known = Known(site, Roster.empty(), {"bench": "webhook"}, {r.id for r in rules.rules})
    router = Router(
        routes=load_routes(DEFAULT_ROUTES_NO_ROSTER, known),
        channels=refs,
        roster=Roster.empty(),
        tz=site.timezone,
    )
    stage = AlertStage(store=store, route=router, policy=AlertPolicy(), health=health)
    clock = _SimClock(now)
    pipeline = Pipeline(
        registry=registry,
        adapters=AdapterSet.load(native_topic_root="gridgate", max_payload_bytes=65536),
        engine=engine,
        stage=stage,
        store=store,
        writer=Writer(store, health),
        health=health,
        clock=clock,
        on_committed=lambda messages: None,
        on_queued=lambda rows: None,
        ingest=_CaughtUp(),
    )
    pipeline.restore()
    stream = traffic(doors, args.held, now, args.rate)
    # warm-up: every door reports once (closed), as in bench/doors.py
    for i in range(0, len(doors), 500):
        batch = [
            Message(f"zigbee2mqtt/{d}", _payload(False, now), now, 1, 1) for d in doors[i : i + 500]
        ]
        store.write(pipeline._observe(batch, now))

    decide_s = write_s = rows_s = dumps_s = loads_s = 0.0
    pickled = 0
    counts = {"alerts": 0, "deliveries": 0, "history": 0, "tracks": 0, "states": 0}
    rules_seen: dict[str, int] = {}
    tracks_seen: dict[str, int] = {}
    profiler = cProfile.Profile() if args.profile else None
    done = 0
    while done < args.messages:
        batch = [next(stream) for _ in range(args.batch)]
        step_now = clock.at = batch[-1].received_at
        t0 = time.process_time()
        if profiler is not None:
            profiler.enable()
        step: StepWrite = pipeline._observe(batch, step_now)
        if profiler is not None:
            profiler.disable()
        t1 = time.process_time()
        if args.write_parts:
            write_step(_NoSql(), step)  # type: ignore[arg-type]
            t_rows = time.process_time()
            blob = pickle.dumps(step, protocol=5)
            t_dumps = time.process_time()
            pickle.loads(blob)  # noqa: S301  # our own bytes
            t_loads = time.process_time()
            rows_s += t_rows - t1
            dumps_s += t_dumps - t_rows
            loads_s += t_loads - t_dumps
            pickled += len(blob)
            t1 = time.process_time()
        store.write(step)
        t2 = time.process_time()
        decide_s += t1 - t0
        write_s += t2 - t1
        done += len(batch)
        counts["alerts"] += len(step.alerts)
        counts["deliveries"] += len(step.deliveries)
        counts["history"] += len(step.history)
        counts["tracks"] += len(step.tracks)
        counts["states"] += len(step.states)
        for (rule_id, _), _track in step.tracks:
            tracks_seen[rule_id] = tracks_seen.get(rule_id, 0) + 1
        for alert in step.alerts.values():
            rules_seen[alert.rule_id] = rules_seen.get(alert.rule_id, 0) + 1
    per = 1e6 / done
    print(
        f"{done:,} messages, {args.doors:,} doors, held {args.held:.0%}, batches of "
        f"{args.batch}: decide {decide_s * per:.1f} µs/msg, write {write_s * per:.1f} µs/msg"
    )
    if args.write_parts:
        print(
            f"write parts: rows without SQLite {rows_s * per:.1f} µs/msg, pickle.dumps "
            f"{dumps_s * per:.1f}, pickle.loads {loads_s * per:.1f}, {pickled / done:.0f} "
            "bytes/msg pickled"
        )
    print(
        "per 1,000 messages: " + ", ".join(f"{k} {v * 1000 / done:.0f}" for k, v in counts.items())
    )
    print("track writes by rule: " + ", ".join(f"{k} {v}" for k, v in sorted(tracks_seen.items())))
    print("alert changes by rule: " + ", ".join(f"{k} {v}" for k, v in sorted(rules_seen.items())))
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
        print(out.getvalue())
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
