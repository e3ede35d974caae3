"""`gridgate simulate` (or `python -m simulator`): sites, rosters, plans, runs and scores.

    site    --seed N --out FILE [--preset demo|district-620|subdistrict-19 | --communities C
            --grids G --buildings B --units U --sensors S] [--lifts] [--roster FILE]
    plan    [options]   print the messages as JSON lines {"topic", "payload"}; no broker
    run     [options] --host H --port P [--speed X] [--progress] [--clock-every-s S]
    receive --port P --out FILE.jsonl      record webhook bodies (for score)
    score   --truth FILE (--api URL [--token-env VAR] | --webhook-log FILE) [--since ISO]
    cases   --api URL --token-env VAR --site FILE --roster FILE --truth OUT [--speed X]
            residents and workers report and work cases over HTTP (simulator/caseplay.py)
    score   --cases OUT --api URL --token-env VAR    what each case became vs its truth

Options of plan and run: --site FILE or --preset NAME (default: the demo site of --seed),
--seed N, --format native|zigbee2mqtt, --topic-root ROOT, --duration-s S, --start-at ISO,
--scenario FILE, --incident KIND@AT_S:DURATION_S[:DEVICE] (repeatable), --no-incidents,
--truth FILE.jsonl, the truth's thresholds (--day-hold-s 180 ...), --rate-scale X,
--max-ordinary-open-s S, --heartbeat-s S. Without an incident option the scenario is one
door_left_open at 20 s lasting 240 s. docs/simulator.md says more.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from simulator import caseplay, play
from simulator.caserun import CaseRun, score_cases
from simulator.errors import PublishError, SimulatorError
from simulator.formats import Format
from simulator.receiver import Receiver
from simulator.roster import Staffing, generate_roster, roster_yaml
from simulator.scenario import IncidentKind
from simulator.scorer import raised_from_api, raised_from_webhook_log, score
from simulator.site import PRESETS, Layout, generate, site_yaml, skipped_kinds
from simulator.truth import DAY_HOLD_S, NIGHT_HOLD_S, Holds, read_truth

EXIT_FAILED = 1  # the broker could not be used; a score with misses, false or duplicates
EXIT_USAGE = 2  # a bad option, site or scenario
_H = Holds()
_RAW = argparse.RawDescriptionHelpFormatter
EXAMPLES = {
    "simulate": """\
exit status: 0 ok, 1 the broker could not be used or a score is not clean, 2 bad input

examples:
  gridgate simulate run --host 127.0.0.1 --port 1883 --speed 10
  gridgate simulate site --preset district-620 --out district.yaml --roster roster.yaml
  gridgate simulate SUBCOMMAND --help
""",
    "site": """\
examples:
  gridgate simulate site --out site.yaml --buildings 4 --units 3 --lifts
  gridgate simulate site --preset subdistrict-19 --seed 3 --out site.yaml --roster roster.yaml
""",
    "plan": """\
examples:
  gridgate simulate plan --duration-s 600 --start-at 2026-12-01T13:00:00+08:00
  gridgate simulate plan --site site.yaml --incident smoke@300:90 --truth truth.jsonl
""",
    "run": """\
examples:
  gridgate simulate run --host 127.0.0.1 --port 1883
  gridgate simulate run --site site.yaml --port 1883 --speed 60 --truth truth.jsonl \\
      --incident door_left_open@20:240 --incident lift_trapped@120:600 --progress
""",
    "receive": """\
examples:
  gridgate simulate receive --port 9000 --out webhooks.jsonl
""",
    "score": """\
examples:
  gridgate simulate score --truth truth.jsonl --api http://127.0.0.1:8080 --token-env TOKEN
  gridgate simulate score --truth truth.jsonl --webhook-log webhooks.jsonl
  gridgate simulate score --cases cases.jsonl --api http://127.0.0.1:8080 --token-env TOKEN
""",
    "cases": """\
examples:
  gridgate simulate cases --api http://127.0.0.1:8080 --token-env TOKEN \\
      --site site.yaml --roster roster.yaml --truth cases.jsonl
""",
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {
        "site": _site,
        "plan": play.plan_command,
        "run": play.run_command,
        "receive": _receive,
        "score": _score,
        "cases": _cases,
    }
    try:
        return commands[args.command](args)
    except PublishError as exc:
        _err(f"simulate {args.command}: {exc}")
        return EXIT_FAILED
    except SimulatorError as exc:
        _err(f"simulate {args.command}: {exc}")
        return EXIT_USAGE


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset")
    return value.astimezone(UTC)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridgate simulate",
        description="Simulated communities for gridgate, over MQTT.",
        epilog=EXAMPLES["simulate"],
        formatter_class=_RAW,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    site = sub.add_parser(
        "site",
        help="write a generated site file (and a roster)",
        epilog=EXAMPLES["site"],
        formatter_class=_RAW,
    )
    site.add_argument("--seed", type=int, default=7, help="chooses the names (default 7)")
    site.add_argument("--out", type=Path, required=True, help="file to write ('-' for stdout)")
    site.add_argument("--preset", choices=sorted(PRESETS), help="real scales (MISSION.md)")
    site.add_argument("--communities", type=int, default=1)
    site.add_argument("--grids", type=int, default=1, help="grids per community")
    site.add_argument("--buildings", type=int, default=3, help="buildings per grid")
    site.add_argument("--units", type=int, default=2, help="units per building")
    site.add_argument("--sensors", type=int, default=1, help="per unit: the door, gas, leak")
    site.add_argument("--lifts", action="store_true", help="a lift monitor in every building")
    site.add_argument("--roster", type=Path, help="also write the people (YAML) here")
    site.add_argument("--workers-per-grid", type=int, default=Staffing.workers_per_grid)

    common = argparse.ArgumentParser(add_help=False)
    where = common.add_mutually_exclusive_group()
    where.add_argument("--site", type=Path, help="site file (default: a generated site)")
    where.add_argument("--preset", choices=sorted(PRESETS), help="a generated preset site")
    common.add_argument("--seed", type=int, default=7, help="default 7")
    common.add_argument("--format", choices=[f.value for f in Format], default="native")
    common.add_argument("--topic-root", help="default gridgate (zigbee2mqtt: zigbee2mqtt)")
    common.add_argument("--duration-s", type=float, help="simulated seconds (run: endless)")
    common.add_argument("--start-at", type=_instant, help="simulated start, ISO with offset")
    common.add_argument("--scenario", type=Path, help="YAML file with a list of incidents")
    kinds = ", ".join(k.value for k in IncidentKind)
    common.add_argument(
        "--incident",
        action="append",
        default=[],
        metavar="KIND@AT_S:DURATION_S[:DEVICE]",
        help=f"door_left_open@20:240 or smoke@300:90:smoke-b1-u1 (repeatable; {kinds})",
    )
    common.add_argument("--no-incidents", action="store_true", help="ordinary traffic only")
    common.add_argument("--truth", type=Path, help="write the expected alerts here (JSONL)")
    common.add_argument("--day-hold-s", type=float, default=DAY_HOLD_S)
    common.add_argument("--night-hold-s", type=float, default=NIGHT_HOLD_S)
    common.add_argument("--quiet-hours", default="01:00-04:00", help="no ordinary traffic")
    common.add_argument("--flap-count", type=int, default=_H.flap_count)
    common.add_argument("--flap-window-s", type=float, default=_H.flap_window_s)
    common.add_argument("--flood-level-cm", type=float, default=_H.flood_level_cm)
    common.add_argument("--offline-hold-s", type=float, default=_H.offline_hold_s)
    common.add_argument("--battery-low-pct", type=float, default=_H.battery_low_pct)
    common.add_argument("--inactive-hold-s", type=float, default=_H.inactive_hold_s)
    common.add_argument("--lift-stopped-hold-s", type=float, default=_H.lift_stopped_hold_s)
    common.add_argument("--rate-scale", type=float, default=1.0, help="x resident traffic")
    common.add_argument(
        "--max-ordinary-open-s",
        type=float,
        help=f"longest ordinary opening (default {play.DEFAULT_MAX_ORDINARY_OPEN_S:.0f}, "
        "or half the shorter hold when that is less)",
    )
    common.add_argument("--heartbeat-s", type=float, default=60.0)

    sub.add_parser(
        "plan",
        parents=[common],
        help="print the messages, no broker",
        epilog=EXAMPLES["plan"],
        formatter_class=_RAW,
    )
    run = sub.add_parser(
        "run",
        parents=[common],
        help="publish to a broker in real time",
        epilog=EXAMPLES["run"],
        formatter_class=_RAW,
    )
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=1883)
    run.add_argument("--username")
    run.add_argument("--password-env", metavar="VAR", help="environment variable with the password")
    run.add_argument("--speed", type=float, default=1.0, help="time acceleration (default 1)")
    run.add_argument("--progress", action="store_true", help="progress on stderr (TTY: always)")
    run.add_argument(
        "--clock-every-s", type=float, help="publish the simulated now this often (wall s)"
    )

    receive = sub.add_parser(
        "receive",
        help="record webhook bodies as JSON lines",
        epilog=EXAMPLES["receive"],
        formatter_class=_RAW,
    )
    receive.add_argument("--host", default="127.0.0.1")
    receive.add_argument("--port", type=int, required=True)
    receive.add_argument("--out", type=Path, required=True)

    cases = sub.add_parser(
        "cases",
        help="report and work cases over HTTP; write their truth",
        epilog=EXAMPLES["cases"],
        formatter_class=_RAW,
    )
    cases.add_argument("--api", required=True, help="the gateway's API base URL")
    cases.add_argument("--token-env", required=True, metavar="VAR", help="env var: admin token")
    cases.add_argument("--host", default="127.0.0.1", help="the broker (clock ticks)")
    cases.add_argument("--port", type=int, default=1883)
    cases.add_argument("--topic-root", default="gridgate")
    cases.add_argument("--site", type=Path, required=True)
    cases.add_argument("--roster", type=Path, required=True)
    cases.add_argument("--seed", type=int, default=7)
    cases.add_argument("--start-at", type=_instant, help="simulated start (default: now)")
    cases.add_argument("--duration-s", type=float, default=86400.0, help="default a day")
    cases.add_argument("--speed", type=float, default=1000.0)
    cases.add_argument("--rate-scale", type=float, default=1.0, help="x the seeds' case rate")
    cases.add_argument("--truth", type=Path, required=True, help="write the truth (JSONL)")

    score_ = sub.add_parser(
        "score",
        help="compare raised alerts (or cases) with the truth",
        epilog=EXAMPLES["score"],
        formatter_class=_RAW,
    )
    truth_of = score_.add_mutually_exclusive_group(required=True)
    truth_of.add_argument("--truth", type=Path)
    truth_of.add_argument("--cases", type=Path, help="a truth written by `simulate cases`")
    source = score_.add_mutually_exclusive_group(required=True)
    source.add_argument("--api", help="the gateway's API base URL")
    source.add_argument("--webhook-log", type=Path, help="a file written by `receive`")
    score_.add_argument("--token-env", metavar="VAR", help="env variable with an API token")
    score_.add_argument("--since", type=_instant, help="ignore alerts raised before this")
    score_.add_argument("--until", type=_instant, help="truth due later is not yet due (now)")
    score_.add_argument("--late-s", type=float, default=60.0, help="a match later is late")
    return parser


def _site(args: argparse.Namespace) -> int:
    if args.preset:
        layout = PRESETS[args.preset]
        command = f"gridgate simulate site --preset {args.preset} --seed {args.seed}"
    else:
        layout = Layout.uniform(
            args.communities, args.grids, args.buildings, args.units, args.sensors
        )
        command = (
            f"gridgate simulate site --seed {args.seed} --communities {args.communities} "
            f"--grids {args.grids} --buildings {args.buildings} --units {args.units}"
        )
        if args.sensors != 1:
            command += f" --sensors {args.sensors}"
    if args.lifts:
        layout = replace(layout, lifts=True)
        command += " --lifts"
    for kind in skipped_kinds(layout):
        _err(f"note: no {kind!r} sensors placed: sensors/kinds.py does not declare the kind")
    site = generate(args.seed, layout)
    text = site_yaml(site, header=f"generated by: {command}")
    if str(args.out) == "-":
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    if args.roster is not None:
        people = generate_roster(site, args.seed, Staffing(workers_per_grid=args.workers_per_grid))
        header = f"people for the site generated by: {command}"
        args.roster.write_text(roster_yaml(people, header), encoding="utf-8")
    return 0


def _receive(args: argparse.Namespace) -> int:
    receiver = Receiver(args.out, args.host, args.port)
    receiver.start()
    _err(f"receiving webhooks on http://{args.host}:{receiver.port}/ into {args.out}")
    with play.stop_on_signals() as stop:
        stop.wait()
    receiver.stop()
    _err(f"receiver stopped: {receiver.count} bodies recorded")
    return 0


def _token_of(args: argparse.Namespace) -> str | None:
    if not args.token_env:
        return None
    token = os.environ.get(args.token_env)
    if token is None:
        raise SimulatorError(f"--token-env {args.token_env}: the variable is not set")
    return token


def _cases(args: argparse.Namespace) -> int:
    token = _token_of(args)
    assert token is not None  # noqa: S101  # --token-env is required
    site = yaml.safe_load(args.site.read_text(encoding="utf-8"))
    tz = ZoneInfo(site.get("timezone", "Asia/Shanghai"))
    start_at = args.start_at or datetime.now(UTC)
    duration = timedelta(seconds=args.duration_s)
    planned = caseplay.plan(
        caseplay.read_grids(args.site, args.roster), args.seed, start_at, duration, tz,
        args.rate_scale,
    )  # fmt: skip
    runner = CaseRun(args.api, token, args.host, args.port, args.topic_root, args.speed)
    try:
        rows = runner.play(planned, start_at, start_at + duration)
    finally:
        runner.close()
    head = {"start_at": start_at.isoformat(), "end_at": (start_at + duration).isoformat()}
    with args.truth.open("w", encoding="utf-8") as out:
        out.write(json.dumps({"run": head}) + "\n")
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    refused = sum(1 for r in rows if r["errors"])
    _err(f"cases: {len(rows)} planned, {runner.requests} requests, {refused} with a refused step")
    return 0 if not refused else EXIT_FAILED


def _score_cases(args: argparse.Namespace) -> int:
    lines = [
        json.loads(line) for line in args.cases.read_text(encoding="utf-8").splitlines() if line
    ]
    run: dict[str, str] = next((line["run"] for line in lines if "run" in line), {})
    rows = [line for line in lines if "run" not in line]
    if not args.api:
        raise SimulatorError("score --cases reads the cases from --api")
    since = _instant(run["start_at"]) if run else None
    until = _instant(run["end_at"]) if run else None
    result = score_cases(rows, args.api, _token_of(args), since, until)
    sys.stdout.write(result.table() + "\n")
    return 0 if result.is_clean else EXIT_FAILED


def _score(args: argparse.Namespace) -> int:
    if args.cases is not None:
        return _score_cases(args)
    expected = read_truth(args.truth)
    repeats = 0
    if args.api:
        token = None
        if args.token_env:
            token = os.environ.get(args.token_env)
            if token is None:
                raise SimulatorError(f"--token-env {args.token_env}: the variable is not set")
        raised = raised_from_api(args.api, args.since, token)
    else:
        raised, repeats = raised_from_webhook_log(args.webhook_log)
    if args.since is not None:
        raised = [r for r in raised if r.raised_at >= args.since]
    result = score(expected, raised, until=args.until or datetime.now(UTC), late_s=args.late_s)
    result.redelivered = repeats
    sys.stdout.write(result.table() + "\n")
    return 0 if result.is_clean else EXIT_FAILED


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
