"""Rule engine timers: cost of tick and observe with 100,000 pending holds, and alert lateness.

    .venv/bin/python bench/timers.py

1. 100,000 doors open, each with a pending hold timer: the time of a tick that fires
   nothing (it must not depend on the number of timers) and of one observe.
2. Lateness: a loop that sleeps until `next_due_at()` (as the gateway's timer task does)
   drives the engine on the real clock; prints how late each alert fired against its due.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from rules.engine import Engine
from rules.model import RuleFile
from sensors.kinds import Kind
from sensors.reading import Reading

TZ = ZoneInfo("Asia/Shanghai")
DOORS = 100_000


def rules(hold_s: float) -> RuleFile:
    return RuleFile.model_validate(
        {
            "rules": [
                {
                    "id": "door_left_open",
                    "when": "held",
                    "kind": "door",
                    "field": "open",
                    "hold_s": hold_s,
                    "night": {"start": "22:00", "end": "06:00", "hold_s": 30},
                    "title": {"zh": "门未关闭", "en": "Door left open"},
                },
                {
                    "id": "door_flapping",
                    "when": "count",
                    "kind": "door",
                    "field": "open",
                    "more_than": 30,
                    "window_s": 600,
                    "title": {"zh": "门频繁开合", "en": "Door flapping"},
                },
                {
                    "id": "device_offline",
                    "when": "absence",
                    "silent_s": 3600,
                    "title": {"zh": "设备离线", "en": "Device offline"},
                },
            ]
        }
    )


def door(device_id: str, at: datetime, is_open: bool) -> Reading:
    return Reading(
        device_id=device_id,
        kind=Kind.DOOR,
        fields={"open": is_open},
        event_at=at,
        received_at=at,
    )


def per_call_us(samples: list[float]) -> str:
    us = sorted(s * 1e6 for s in samples)
    return (
        f"median {statistics.median(us):.1f} µs, p99 {us[int(len(us) * 0.99)]:.1f} µs, "
        f"max {us[-1]:.1f} µs"
    )


def pending_holds() -> None:
    engine = Engine(rules(hold_s=86400), TZ)
    t0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    started = time.perf_counter()
    for i in range(DOORS):
        engine.observe(door(f"door-{i}", t0 + timedelta(milliseconds=i), True), t0)
    spent = time.perf_counter() - started
    engine.take_changes()
    print(f"{DOORS} doors opened: {spent:.2f} s, {spent / DOORS * 1e6:.1f} µs per observe")

    ticks = []
    now = t0 + timedelta(seconds=60)
    for n in range(10_000):
        before = time.perf_counter()
        fired = engine.tick(now + timedelta(milliseconds=n))
        ticks.append(time.perf_counter() - before)
        assert not fired  # the point of the measure
    print(f"tick firing nothing, {DOORS * 3} pending timers: {per_call_us(ticks)}")

    observes = []
    for n in range(10_000):
        at = now + timedelta(seconds=n)
        reading = door(f"door-{n}", at, n % 2 == 1)
        before = time.perf_counter()
        engine.observe(reading, at)
        observes.append(time.perf_counter() - before)
    print(f"observe (close / reopen) among {DOORS} open doors: {per_call_us(observes)}")


def lateness(alerts: int = 200, spread_s: float = 4.0) -> None:
    """Doors whose holds come due over `spread_s` seconds, driven on the real clock."""
    engine = Engine(rules(hold_s=1.0), TZ)
    start = datetime.now(UTC)
    for i in range(alerts):
        opened = start + timedelta(seconds=spread_s * i / alerts)
        engine.observe(door(f"door-{i}", opened, True), start)
    late_ms: list[float] = []
    while len(late_ms) < alerts and (due := engine.next_due_at()) is not None:
        wait = (due - datetime.now(UTC)).total_seconds()
        if wait > 0:
            time.sleep(wait)
        for event in engine.tick(datetime.now(UTC)):
            if event.due_at is not None:
                late_ms.append((event.at - event.due_at).total_seconds() * 1000)
    late_ms.sort()
    print(
        f"lateness of {len(late_ms)} alerts (sleep until next_due_at): "
        f"median {statistics.median(late_ms):.2f} ms, p99 {late_ms[int(len(late_ms) * 0.99)]:.2f}"
        f" ms, max {late_ms[-1]:.2f} ms, within 50 ms: {sum(v <= 50 for v in late_ms)}"
    )


if __name__ == "__main__":
    pending_holds()
    lateness()
