"""The `gridgate` command.

gridgate run [--config FILE]          the gateway (broker from settings)
gridgate demo [--seed N]              own Mosquitto + gateway + simulator, embedded defaults
gridgate check-config [--config FILE] validate settings, site and rules; start nothing
gridgate config show [--config FILE]  the settings in force, secrets masked
gridgate backup PATH [--config FILE]  online copy of the SQLite state (the gateway may run)
gridgate routes test --device ID --rule ID [--event E]   who an alert reaches, and why
gridgate simulate ...                 the simulator (see `gridgate simulate --help`)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr

from gateway.alerts import routecheck
from gateway.alerts.routes import EVENTS
from gateway.alerts.routing import ChannelRef, Router
from gateway.api.auth import hash_token, new_token
from gateway.config import (
    DEFAULT_ROSTER,
    DEFAULT_SITE,
    Settings,
    SettingsError,
    load_settings,
    masked,
)
from gateway.files import Loaded, load_files
from gateway.places.registry import Registry
from gateway.places.roster import check_channels
from gateway.places.site import load_site
from gateway.runtime import logs
from gateway.runtime.backup import BackupError, backup
from gateway.runtime.broker import BrokerError, LocalBroker
from gateway.runtime.clock import utcnow
from gateway.service import serve
from gateway.store import Store
from rules import check as rules_check
from rules.model import Severity, load_rules
from sensors.check import main as check_adapter
from sensors.errors import FileError

EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C
SIMULATOR_STOP_S = 2.0


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _load(config: Path | None) -> tuple[Settings, Loaded]:
    """Settings and every file they name, cross-checked; FileError or SettingsError."""
    settings = load_settings(config)
    loaded = load_files(settings)
    if settings.roster_file is not None:
        check_channels(loaded.roster, settings.roster_file, settings.channel_names)
    return settings, loaded


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridgate", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    config_help = "YAML settings file (environment variables GRIDGATE_* override it)"
    run = sub.add_parser("run", help="run the gateway")
    run.add_argument("--config", type=Path, help=config_help)
    demo = sub.add_parser("demo", help="run a private Mosquitto, the gateway and the simulator")
    demo.add_argument("--config", type=Path, help=config_help)
    demo.add_argument("--seed", type=int, default=7, help="simulator seed (default 7)")
    demo.add_argument("--no-simulator", action="store_true", help="start no simulator")
    check = sub.add_parser("check-config", help="validate settings, site and rules files")
    check.add_argument("--config", type=Path, help=config_help)
    show = sub.add_parser("config", help="settings")
    show_sub = show.add_subparsers(dest="config_command", required=True)
    show_show = show_sub.add_parser("show", help="print the settings in force, secrets masked")
    show_show.add_argument("--config", type=Path, help=config_help)
    sub.add_parser("simulate", help="the simulator (gridgate simulate --help)", add_help=False)
    sensors = sub.add_parser("sensors", help="adapters: gridgate sensors check ADAPTER SAMPLES")
    sensors.add_argument("action", choices=["check"])
    sub.add_parser("rules", help="rules: gridgate rules test RULES READINGS.jsonl [--site SITE]")
    sub.add_parser("routes", help="routing: gridgate routes test --device ID --rule ID [--event E]")
    token = sub.add_parser("token", help="bearer tokens for people of the roster")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="print a new token for PERSON (kept hashed)")
    create.add_argument("person", help="a person id from the roster file")
    create.add_argument("--label", help="what the token is for, e.g. the phone")
    create.add_argument("--config", type=Path, help=config_help)
    copy = sub.add_parser("backup", help="copy the SQLite state to PATH, safe while running")
    copy.add_argument("path", type=Path, help="file to write (one SQLite file)")
    copy.add_argument("--force", action="store_true", help="replace PATH if it exists")
    copy.add_argument("--config", type=Path, help=config_help)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulate"]:
        from simulator.cli import main as simulate

        code: int = simulate(argv[1:])
        return code
    if argv[:2] == ["sensors", "check"]:
        return check_adapter(argv[2:])
    if argv[:2] == ["rules", "test"]:
        return _rules_test(argv[2:])
    if argv[:2] == ["routes", "test"]:
        return _routes_test(argv[2:])
    args = _parser().parse_args(argv)
    try:
        if args.command == "config":
            _out(json.dumps(masked(load_settings(args.config)), indent=2, ensure_ascii=False))
            return 0
        if args.command == "backup":
            return _backup(load_settings(args.config), args.path, overwrite=args.force)
        settings, loaded = _load(args.config)
    except (FileError, SettingsError) as exc:
        _err(f"gridgate: refusing to start, invalid configuration:\n{exc}")
        return EXIT_CONFIG
    if args.command == "check-config":
        _out(
            f"ok: site {settings.site_file} ({len(loaded.site.devices)} devices), "
            f"rules {settings.rules_file} ({len(loaded.rules.rules)} rules)"
        )
        telemetry = settings.telemetry
        _out(
            f"telemetry: {telemetry.url} bucket {telemetry.bucket}"
            if telemetry.is_enabled
            else "telemetry: off"
        )
        return 0
    if (
        args.command == "demo"
        and settings.roster_file is None
        and settings.site_file == DEFAULT_SITE
    ):
        # the demo community's people; their channels (sms, wecom) are not configured in
        # the demo, so it is not held to the channel check: they show who would be told
        settings.roster_file = DEFAULT_ROSTER
        loaded = load_files(settings)
    if args.command == "token":
        return _token(settings, loaded, args.person, args.label)
    logs.configure(settings.log)
    if args.command == "run":
        try:
            asyncio.run(serve(settings, loaded))
        except KeyboardInterrupt:  # Ctrl-C before the gateway took over the signals
            return EXIT_INTERRUPTED
        return 0
    return _demo(settings, loaded, args.seed, start_simulator=not args.no_simulator)


def _routes_test(argv: list[str]) -> int:
    """Print who an alert event reaches, through which channel, and which route decided it
    (the routing file, roster and channels of the settings in force)."""
    parser = argparse.ArgumentParser(prog="gridgate routes test", description=_routes_test.__doc__)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--device", help="the alert's device id (its place comes from the site)")
    what.add_argument("--alert", type=Path, help="a JSON alert, as the API or a webhook shows it")
    parser.add_argument("--rule", help="the rule id (with --device)")
    parser.add_argument("--event", default="raised", choices=EVENTS, help="default raised")
    parser.add_argument("--severity", choices=[s.value for s in Severity], help="default: rule's")
    parser.add_argument("--level", type=int, default=0, help="escalation level (0 grid worker)")
    parser.add_argument("--at", type=datetime.fromisoformat, help="the instant, ISO with offset")
    parser.add_argument("--config", type=Path, help="YAML settings file")
    args = parser.parse_args(argv)
    try:
        settings, loaded = _load(args.config)
    except (FileError, SettingsError) as exc:
        _err(f"gridgate routes test: invalid configuration:\n{exc}")
        return EXIT_CONFIG
    at = args.at or utcnow()
    if at.tzinfo is None:
        _err("gridgate routes test: --at needs an offset, e.g. 2026-12-01T10:30:00+08:00")
        return EXIT_CONFIG
    try:
        if args.alert is not None:
            alert = routecheck.alert_from_file(args.alert, loaded.site, loaded.rules, args.at)
        else:
            if not args.rule:
                _err("gridgate routes test: --device needs --rule")
                return EXIT_CONFIG
            alert = routecheck.alert_from(
                loaded.site,
                loaded.rules,
                device_id=args.device,
                rule_id=args.rule,
                at=at,
                severity=Severity(args.severity) if args.severity else None,
                escalation_level=args.level,
            )
    except routecheck.DescriptionError as exc:
        _err(f"gridgate routes test: {exc}")
        return EXIT_CONFIG
    router = Router(
        routes=loaded.routes,
        channels=[ChannelRef(t, n) for n, t in settings.channel_types.items()],
        roster=loaded.roster,
        tz=loaded.site.timezone,
        resident_phones=loaded.site.resident_phones,
    )
    for line in routecheck.explain(router, alert, args.event, at, loaded.site.timezone):
        _out(line)
    return 0


def _rules_test(argv: list[str]) -> int:
    """Print the alerts a recorded stream of readings produces under a rule file."""
    parser = argparse.ArgumentParser(prog="gridgate rules test", description=_rules_test.__doc__)
    parser.add_argument("rules", type=Path, help="a rule file or a folder of them")
    parser.add_argument("readings", type=Path, help="JSON lines, one canonical reading each")
    parser.add_argument("--site", type=Path, default=DEFAULT_SITE, help="site file (places)")
    args = parser.parse_args(argv)
    try:
        site = load_site(args.site)
        rule_file = load_rules(args.rules)
        readings = rules_check.read_readings(args.readings)
    except FileError as exc:
        _err(f"gridgate rules test:\n{exc}")
        return EXIT_CONFIG
    where = Registry(site, []).where()
    events = rules_check.run(rule_file, readings, where, site.timezone)
    _out(rules_check.render(events, site.timezone))
    return 0


def _token(settings: Settings, loaded: Loaded, person_id: str, label: str | None) -> int:
    if person_id not in loaded.roster.people:
        _err(f"gridgate token: {person_id!r} is not in the roster ({settings.roster_file})")
        return EXIT_CONFIG
    token = new_token()
    store = Store(settings.database_path)
    try:
        store.people.add_token(hash_token(token), person_id, label, utcnow())
    finally:
        store.close()
    _out(token)
    return 0


def _backup(settings: Settings, path: Path, *, overwrite: bool) -> int:
    try:
        result = backup(settings.database_path, path, overwrite=overwrite)
    except BackupError as exc:
        _err(f"gridgate backup: {exc}")
        return 1
    _out(
        f"ok: {result.path} ({result.size_bytes} bytes, schema {result.schema_version}, "
        f"{result.alerts} alerts)"
    )
    return 0


def _demo_leader_token(settings: Settings, loaded: Loaded) -> tuple[str, str] | None:
    """A token for the demo roster's first grid leader, to see the dashboard as they do."""
    leader = next((p for p in loaded.roster.people.values() if p.role.value == "grid_leader"), None)
    if leader is None:
        return None
    token = new_token()
    store = Store(settings.database_path)
    try:
        store.people.add_token(hash_token(token), leader.id, "demo", utcnow())
    finally:
        store.close()
    return leader.name, token


def _port_is_free(host: str, port: int) -> bool:
    """Whether the API can listen on host:port, asked the way uvicorn binds (SO_REUSEADDR):
    a connection of the last run still in TIME_WAIT does not make the port taken."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _demo(settings: Settings, loaded: Loaded, seed: int, *, start_simulator: bool) -> int:
    broker: LocalBroker | None = None
    simulator: subprocess.Popen[bytes] | None = None
    if "mqtt" not in settings.model_fields_set:
        broker = LocalBroker(settings.state_dir / "mosquitto")
        try:
            broker.write_config()
            broker.start()
        except BrokerError as exc:
            _err(f"gridgate demo: {exc}")
            return 1
        settings.mqtt = settings.mqtt.model_copy(update={"host": "127.0.0.1", "port": broker.port})
        _out(f"mosquitto   127.0.0.1:{broker.port} (pid {broker.pid}, state in {broker.directory})")
    if not _port_is_free(settings.api.host, settings.api.port):
        _out(f"port        {settings.api.port} is taken: the API listens on a free one (below)")
        settings.api = settings.api.model_copy(update={"port": 0})
    admin = None
    if settings.auth.admin_token is None:
        admin = new_token()
        settings.auth = settings.auth.model_copy(update={"admin_token": SecretStr(admin)})
        _out(f"admin token {admin}  (this run only; set GRIDGATE_AUTH__ADMIN_TOKEN to keep one)")

    leader = _demo_leader_token(settings, loaded)
    api_url = f"http://{settings.api.host}:{settings.api.port}"
    told_stopping = False

    def say_stopping() -> None:
        nonlocal told_stopping
        if not told_stopping:
            told_stopping = True
            _out(f"stopping    gateway ({api_url})")

    def on_ctrl_c() -> None:
        # say what stops, then stop the gateway the way SIGTERM does (its own handler)
        say_stopping()
        os.kill(os.getpid(), signal.SIGTERM)

    def announce(port: int) -> None:
        nonlocal api_url
        api_url = base = f"http://{settings.api.host}:{port}"
        login = f"#token={admin}" if admin else ""
        _out(f"dashboard   {base}/{login}")
        if leader is not None:
            name, token = leader
            _out(f"            {base}/#token={token}  (grid leader {name}: their grid only)")
        _out(f"API         {base}/alerts  {base}/doors  {base}/health  {base}/metrics")
        _out(f'            curl -H "Authorization: Bearer {admin or "<token>"}" {base}/alerts')
        _out(f"API docs    {base}/docs  (Authorize with the admin token)")
        _out("stop        Ctrl-C")
        # called on the gateway's loop, after it took SIGINT and SIGTERM for itself
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, on_ctrl_c)

    try:
        if start_simulator:
            command = [
                sys.executable, "-m", "simulator", "run",
                "--site", str(settings.site_file),
                "--host", settings.mqtt.host,
                "--port", str(settings.mqtt.port),
                "--topic-root", settings.mqtt.topic_root,
                "--seed", str(seed),
            ]  # fmt: skip
            simulator = subprocess.Popen(command, env=os.environ.copy())  # noqa: S603  # our own module
            _out(f"simulator   pid {simulator.pid}, seed {seed}")
        asyncio.run(serve(settings, loaded, on_ready=announce))
    except KeyboardInterrupt:
        pass  # Ctrl-C before the gateway took over the signals: stop what started, below
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut this short
        say_stopping()
        if simulator is not None:
            _out(f"stopping    simulator (pid {simulator.pid})")
            _stop_process(simulator, SIMULATOR_STOP_S)
        if broker is not None:
            _out(f"stopping    mosquitto (pid {broker.pid})")
            broker.stop()
        _out(f"stopped     state kept in {settings.state_dir}")
    return 0


def _stop_process(process: subprocess.Popen[bytes], wait_s: float) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


if __name__ == "__main__":
    sys.exit(main())
