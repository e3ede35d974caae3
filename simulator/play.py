"""`simulate plan` and `simulate run`: a site, a scenario and a behaviour, played.

The simulated clock starts at `--start-at` (plan: default now) or, for `run`, at the real
now. At `--speed 1` event_at is the wall clock; faster, event_at runs ahead of the wall
clock and the gateway must run on event time (docs/simulator.md). With `--start-at` in the
past, a run replays a day that already happened: its event times are never in the future.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from simulator import progress as progress_
from simulator.behaviour import Behaviour, messages
from simulator.daily import DailyCurve, quiet_window
from simulator.errors import SimulatorError
from simulator.formats import DEFAULT_ROOT, Encoder, Format
from simulator.night import NightWindow
from simulator.publisher import Broker, publish
from simulator.scenario import (
    DEFAULT_SCENARIO,
    Scenario,
    StagedIncident,
    load_scenario,
    parse_incident,
    stage,
)
from simulator.site import PRESETS, SimSite, generate, generate_site, load_site, site_from_data
from simulator.truth import Holds, expected_alerts, write_truth
from simulator.vocabulary import LIFT

DEFAULT_MAX_ORDINARY_OPEN_S = 20.0
_PLAN_TAIL_S = 60.0
_PLAN_MIN_S = 300.0
_FUTURE_SLACK_S = 5.0


@dataclass(frozen=True)
class Setup:
    site: SimSite
    incidents: list[StagedIncident]
    curve: DailyCurve
    holds: Holds
    behaviour: Behaviour
    start_at: datetime
    root: str

    def lift_ids(self) -> list[str]:
        return [d.device_id for d in self.site.devices if d.kind == LIFT]


def _hours(text: str) -> tuple[time, time]:
    try:
        start, end = (time.fromisoformat(part) for part in text.split("-"))
    except ValueError as exc:
        raise SimulatorError(f"--quiet-hours {text!r}: expected HH:MM-HH:MM") from exc
    return start, end


def build(args: argparse.Namespace, start_at: datetime) -> Setup:
    if args.duration_s is not None and args.duration_s <= 0:
        raise SimulatorError("--duration-s must be positive")
    if args.site:
        site = load_site(args.site)
    elif args.preset:
        site = site_from_data(generate(args.seed, PRESETS[args.preset]))
    else:
        site = site_from_data(generate_site(args.seed))
    try:
        timezone = ZoneInfo(site.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SimulatorError(f"unknown timezone {site.timezone!r} in the site file") from exc
    quiet = quiet_window(timezone, *_hours(args.quiet_hours))
    holds = Holds(
        args.day_hold_s,
        args.night_hold_s,
        NightWindow(timezone),
        quiet,
        flap_count=args.flap_count,
        flap_window_s=args.flap_window_s,
        flood_level_cm=args.flood_level_cm,
        offline_hold_s=args.offline_hold_s,
        battery_low_pct=args.battery_low_pct,
        inactive_hold_s=args.inactive_hold_s,
        lift_stopped_hold_s=args.lift_stopped_hold_s,
    )
    shorter_hold_s = min(args.day_hold_s, args.night_hold_s)
    max_open_s = args.max_ordinary_open_s
    if max_open_s is None:
        max_open_s = min(DEFAULT_MAX_ORDINARY_OPEN_S, shorter_hold_s / 2)
    if max_open_s >= shorter_hold_s:
        raise SimulatorError(
            f"--max-ordinary-open-s {max_open_s:g} is not below the shorter hold "
            f"{shorter_hold_s:g} s: ordinary traffic would raise door_left_open alerts"
        )
    try:
        behaviour = Behaviour(
            rate_scale=args.rate_scale,
            max_ordinary_open_s=max_open_s,
            min_open_s=min(3.0, max_open_s),
            heartbeat_s=args.heartbeat_s,
        )
    except ValueError as exc:
        raise SimulatorError(str(exc)) from exc
    incidents = stage(
        _scenario(args), site.devices, args.seed, start_at=start_at, timezone=timezone, warn=_err
    )
    root = args.topic_root or DEFAULT_ROOT[Format(args.format)]
    return Setup(site, incidents, DailyCurve(timezone, quiet), holds, behaviour, start_at, root)


def _scenario(args: argparse.Namespace) -> Scenario:
    if args.no_incidents:
        return Scenario()
    incidents = list(load_scenario(args.scenario).incidents) if args.scenario else []
    incidents += [parse_incident(text) for text in args.incident]
    if args.scenario is None and not incidents:
        return DEFAULT_SCENARIO
    return Scenario(incidents=incidents)


def _write_truth(args: argparse.Namespace, setup: Setup) -> None:
    if args.truth is None:
        return
    start_at = setup.start_at
    end_at = None if args.duration_s is None else start_at + timedelta(seconds=args.duration_s)
    write_truth(args.truth, expected_alerts(setup.incidents, start_at, setup.holds, end_at))


def plan_command(args: argparse.Namespace) -> int:
    setup = build(args, args.start_at or datetime.now(UTC))
    if args.duration_s is None:
        last_s = max((i.end_ms / 1000 for i in setup.incidents), default=0.0)
        args.duration_s = max(_PLAN_MIN_S, last_s + _PLAN_TAIL_S)
    _write_truth(args, setup)
    planned = messages(
        setup.site.devices,
        setup.incidents,
        seed=args.seed,
        start_at=setup.start_at,
        duration=timedelta(seconds=args.duration_s),
        curve=setup.curve,
        behaviour=setup.behaviour,
    )
    encoder = Encoder(Format(args.format), setup.root, frozenset(setup.lift_ids()))
    for message in planned:
        topic, payload = encoder.wire(message)
        sys.stdout.write(json.dumps({"topic": topic, "payload": payload}, ensure_ascii=False))
        sys.stdout.write("\n")
    return 0


def _run_start(args: argparse.Namespace, now: datetime) -> datetime:
    if args.speed <= 0:
        raise SimulatorError("--speed must be positive")
    if args.start_at is None:
        if args.speed != 1:
            _err(
                f"note: at --speed {args.speed:g} event_at runs ahead of the wall clock; "
                "the gateway must run on event time (docs/simulator.md)"
            )
        return now
    start_at: datetime = args.start_at
    if start_at > now + timedelta(seconds=_FUTURE_SLACK_S):
        raise SimulatorError("--start-at is in the future: a gateway would reject its events")
    if args.speed > 1:
        if args.duration_s is None:
            raise SimulatorError("--start-at with --speed above 1 needs --duration-s")
        ahead_s = (start_at - now).total_seconds() + args.duration_s * (1 - 1 / args.speed)
        if ahead_s > _FUTURE_SLACK_S:
            raise SimulatorError(
                f"replaying {args.duration_s:g} s from --start-at at x{args.speed:g} would "
                f"overtake the wall clock by {ahead_s:.0f} s: start earlier or run shorter"
            )
    return start_at


def run_command(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    setup = build(args, _run_start(args, datetime.now(UTC)))
    password = None
    if args.password_env:
        password = os.environ.get(args.password_env)
        if password is None:
            raise SimulatorError(f"--password-env {args.password_env}: the variable is not set")
    broker = Broker(
        args.host, args.port, args.username, password, client_id=f"gridgate-sim-{args.seed}"
    )
    duration = None if args.duration_s is None else timedelta(seconds=args.duration_s)
    _write_truth(args, setup)
    planned = messages(
        setup.site.devices,
        setup.incidents,
        seed=args.seed,
        start_at=setup.start_at,
        duration=duration,
        curve=setup.curve,
        behaviour=setup.behaviour,
    )
    staged = ", ".join(i.label() for i in setup.incidents[:20])
    logging.getLogger(__name__).info(
        "simulator_started devices=%d broker=%s:%d seed=%d speed=%g format=%s incidents=%s",
        len(setup.site.devices), args.host, args.port, args.seed, args.speed, args.format,
        staged or "none",
    )  # fmt: skip
    show = progress_.wanted(args.progress)
    with stop_on_signals() as stop:
        report = publish(
            planned,
            device_ids=[d.device_id for d in setup.site.devices],
            broker=broker,
            start_at=setup.start_at,
            topic_root=setup.root,
            output_format=Format(args.format),
            lift_ids=setup.lift_ids(),
            speed=args.speed,
            end_at=None if duration is None else setup.start_at + duration,
            stop=stop,
            progress=progress_.Progress(start_at=setup.start_at, duration=duration)
            if show
            else None,
            clock_every_s=args.clock_every_s,
        )
    sys.stdout.write(report.summary() + "\n" + report.table() + "\n")
    sys.stdout.flush()
    return 0


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM (only the main thread may install handlers)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda _signum, _frame: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
