"""`gridgate simulate` (or `python -m simulator`): generate a site, plan or run a simulation.

    site --seed N --out FILE [--communities 1 --grids 1 --buildings 3 --units 2]
    plan [options]      print the messages as JSON lines {"topic", "payload"}; no broker
    run  [options] --host H --port P [--username U --password-env VAR] [--speed X]

Options of plan and run: --site FILE (default: the site `site --seed N` would write),
--seed N, --topic-root ROOT, --duration-s S, --scenario FILE, --incident
KIND@AT_S:DURATION_S[:DEVICE] (repeatable; door_left_open or smoke), --no-incidents,
--truth FILE.jsonl, --day-hold-s 180, --night-hold-s 30, --rate-scale X,
--max-ordinary-open-s S, --heartbeat-s S; plan also --start-at ISO.
Without an incident option the scenario is one door_left_open at 20 s lasting 240 s.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from simulator.behaviour import Behaviour, messages
from simulator.errors import PublishError, SimulatorError
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
from simulator.site import SimSite, generate_site, load_site, site_from_data, site_yaml
from simulator.topics import reading_topic
from simulator.truth import DAY_HOLD_S, NIGHT_HOLD_S, Holds, expected_alerts, write_truth

EXIT_FAILED = 1  # the broker could not be used
EXIT_USAGE = 2  # a bad option, site or scenario
_DEFAULT_MAX_ORDINARY_OPEN_S = 20.0
_PLAN_TAIL_S = 60.0
_PLAN_MIN_S = 300.0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "site":
            return _site(args)
        if args.command == "plan":
            return _plan(args)
        return _run(args)
    except PublishError as exc:
        _err(f"simulate {args.command}: {exc}")
        return EXIT_FAILED
    except SimulatorError as exc:
        _err(f"simulate {args.command}: {exc}")
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridgate simulate", description="Simulated communities for gridgate, over MQTT."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    site = sub.add_parser("site", help="write a generated site file")
    site.add_argument("--seed", type=int, default=7, help="chooses the names (default 7)")
    site.add_argument("--out", type=Path, required=True, help="file to write ('-' for stdout)")
    site.add_argument("--communities", type=int, default=1)
    site.add_argument("--grids", type=int, default=1, help="grids per community")
    site.add_argument("--buildings", type=int, default=3, help="buildings per grid")
    site.add_argument("--units", type=int, default=2, help="units per building")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--site", type=Path, help="site file (default: a generated site)")
    common.add_argument("--seed", type=int, default=7, help="default 7")
    common.add_argument("--topic-root", default="gridgate")
    common.add_argument("--duration-s", type=float, help="simulated seconds (run: endless)")
    common.add_argument("--scenario", type=Path, help="YAML file with a list of incidents")
    common.add_argument(
        "--incident",
        action="append",
        default=[],
        metavar="KIND@AT_S:DURATION_S[:DEVICE]",
        help="door_left_open@20:240 or smoke@300:90:smoke-b1-u1 (repeatable)",
    )
    common.add_argument("--no-incidents", action="store_true", help="ordinary traffic only")
    common.add_argument("--truth", type=Path, help="write the expected alerts here (JSONL)")
    common.add_argument("--day-hold-s", type=float, default=DAY_HOLD_S)
    common.add_argument("--night-hold-s", type=float, default=NIGHT_HOLD_S)
    common.add_argument("--rate-scale", type=float, default=1.0, help="x resident traffic")
    common.add_argument(
        "--max-ordinary-open-s",
        type=float,
        help=f"longest ordinary opening (default {_DEFAULT_MAX_ORDINARY_OPEN_S:.0f}, "
        "or half the shorter hold when that is less)",
    )
    common.add_argument("--heartbeat-s", type=float, default=60.0)

    plan = sub.add_parser("plan", parents=[common], help="print the messages, no broker")
    plan.add_argument("--start-at", type=_instant, help="ISO instant with offset (default now)")
    run = sub.add_parser("run", parents=[common], help="publish to a broker in real time")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=1883)
    run.add_argument("--username")
    run.add_argument("--password-env", metavar="VAR", help="environment variable with the password")
    run.add_argument("--speed", type=float, default=1.0, help="time acceleration (default 1)")
    return parser


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset")
    return value.astimezone(UTC)


def _site(args: argparse.Namespace) -> int:
    counts = (args.communities, args.grids, args.buildings, args.units)
    text = site_yaml(
        generate_site(args.seed, *counts),
        header=f"generated by: gridgate simulate site --seed {args.seed} --communities "
        f"{counts[0]} --grids {counts[1]} --buildings {counts[2]} --units {counts[3]}",
    )
    if str(args.out) == "-":
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0


@dataclass(frozen=True)
class _Setup:
    site: SimSite
    incidents: list[StagedIncident]
    night: NightWindow
    holds: Holds
    behaviour: Behaviour


def _setup(args: argparse.Namespace) -> _Setup:
    if args.duration_s is not None and args.duration_s <= 0:
        raise SimulatorError("--duration-s must be positive")
    site = load_site(args.site) if args.site else site_from_data(generate_site(args.seed))
    try:
        night = NightWindow(ZoneInfo(site.timezone))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SimulatorError(f"unknown timezone {site.timezone!r} in the site file") from exc
    holds = Holds(args.day_hold_s, args.night_hold_s, night)
    shorter_hold_s = min(args.day_hold_s, args.night_hold_s)
    max_open_s = args.max_ordinary_open_s
    if max_open_s is None:
        max_open_s = min(_DEFAULT_MAX_ORDINARY_OPEN_S, shorter_hold_s / 2)
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
    incidents = stage(_scenario(args), site.devices, args.seed)
    return _Setup(site, incidents, night, holds, behaviour)


def _scenario(args: argparse.Namespace) -> Scenario:
    if args.no_incidents:
        return Scenario()
    incidents = list(load_scenario(args.scenario).incidents) if args.scenario else []
    incidents += [parse_incident(text) for text in args.incident]
    if args.scenario is None and not incidents:
        return DEFAULT_SCENARIO
    return Scenario(incidents=incidents)


def _write_truth(args: argparse.Namespace, setup: _Setup, start_at: datetime) -> None:
    if args.truth is None:
        return
    end_at = None if args.duration_s is None else start_at + timedelta(seconds=args.duration_s)
    write_truth(args.truth, expected_alerts(setup.incidents, start_at, setup.holds, end_at))


def _plan(args: argparse.Namespace) -> int:
    setup = _setup(args)
    start_at = args.start_at or datetime.now(UTC)
    if args.duration_s is None:
        last_s = max((i.end_ms / 1000 for i in setup.incidents), default=0.0)
        args.duration_s = max(_PLAN_MIN_S, last_s + _PLAN_TAIL_S)
    _write_truth(args, setup, start_at)
    planned = messages(
        setup.site.devices,
        setup.incidents,
        seed=args.seed,
        start_at=start_at,
        duration=timedelta(seconds=args.duration_s),
        night=setup.night,
        behaviour=setup.behaviour,
    )
    for message in planned:
        line = {
            "topic": reading_topic(args.topic_root, message.device_id),
            "payload": message.payload,
        }
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    return 0


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    setup = _setup(args)
    password = None
    if args.password_env:
        password = os.environ.get(args.password_env)
        if password is None:
            raise SimulatorError(f"--password-env {args.password_env}: the variable is not set")
    if args.speed <= 0:
        raise SimulatorError("--speed must be positive")
    broker = Broker(
        args.host, args.port, args.username, password, client_id=f"gridgate-sim-{args.seed}"
    )
    # The simulated clock starts at the real now, so at speed 1 event_at is the wall clock.
    start_at = datetime.now(UTC)
    duration = None if args.duration_s is None else timedelta(seconds=args.duration_s)
    _write_truth(args, setup, start_at)
    planned = messages(
        setup.site.devices,
        setup.incidents,
        seed=args.seed,
        start_at=start_at,
        duration=duration,
        night=setup.night,
        behaviour=setup.behaviour,
    )
    staged = ", ".join(
        f"{i.kind}@{i.at_s:g}:{i.duration_s:g}:{i.device_id}" for i in setup.incidents
    )
    logging.getLogger(__name__).info(
        "simulator_started devices=%d broker=%s:%d seed=%d speed=%g incidents=%s",
        len(setup.site.devices), args.host, args.port, args.seed, args.speed, staged or "none",
    )  # fmt: skip
    with _stop_on_signals() as stop:
        report = publish(
            planned,
            device_ids=[d.device_id for d in setup.site.devices],
            broker=broker,
            start_at=start_at,
            topic_root=args.topic_root,
            speed=args.speed,
            end_at=None if duration is None else start_at + duration,
            stop=stop,
        )
    sys.stdout.write(report.summary() + "\n")
    sys.stdout.flush()
    return 0


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
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
