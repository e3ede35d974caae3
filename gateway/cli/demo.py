"""`gridgate demo`: a private Mosquitto, the gateway and the simulator, for a first look."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from gateway.cli.conventions import EXIT_FAILED, ConfigOption, complain, load, say

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.files import Loaded

SIMULATOR_STOP_S = 2.0


def demo(
    config: ConfigOption = None,
    seed: Annotated[int, typer.Option(metavar="N", help="simulator seed")] = 7,
    no_simulator: Annotated[
        bool, typer.Option("--no-simulator", help="start no simulator")
    ] = False,
) -> None:
    """A private Mosquitto, the gateway and the simulator: a demo.

    Prints the dashboard's address with a sign-in token (one for the admin, one for the
    demo's grid leader), the API and how to stop (Ctrl-C: everything it started stops,
    the state stays in GRIDGATE_STATE_DIR, ./state by default). With GRIDGATE_MQTT__* set
    it uses that broker instead of its own.

    \b
    Examples:
      gridgate demo
      gridgate demo --seed 11
      GRIDGATE_MQTT__HOST=127.0.0.1 GRIDGATE_MQTT__PORT=1883 gridgate demo --no-simulator
    """
    from gateway.config import DEFAULT_ROSTER, DEFAULT_SITE
    from gateway.files import load_files
    from gateway.runtime import logs

    settings, loaded = load(config)
    if settings.roster_file is None and settings.site_file == DEFAULT_SITE:
        # the demo community's people; their channels (sms, wecom) are not configured in
        # the demo, so it is not held to the channel check: they show who would be told
        settings.roster_file = DEFAULT_ROSTER
        loaded = load_files(settings)
    logs.configure(settings.log)
    code = _demo(settings, loaded, seed, start_simulator=not no_simulator)
    raise typer.Exit(code)


def _demo_leader_token(settings: Settings, loaded: Loaded) -> tuple[str, str] | None:
    """A token for the demo roster's first grid leader, to see the dashboard as they do."""
    from gateway.api.auth import hash_token, new_token
    from gateway.runtime.clock import utcnow
    from gateway.store import Store

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
    from pydantic import SecretStr

    from gateway.api.auth import new_token
    from gateway.runtime.broker import BrokerError, LocalBroker
    from gateway.service import serve

    broker: LocalBroker | None = None
    simulator: subprocess.Popen[bytes] | None = None
    if "mqtt" not in settings.model_fields_set:
        broker = LocalBroker(settings.state_dir / "mosquitto")
        try:
            broker.write_config()
            broker.start()
        except BrokerError as exc:
            complain(f"gridgate demo: {exc}")
            return EXIT_FAILED
        settings.mqtt = settings.mqtt.model_copy(update={"host": "127.0.0.1", "port": broker.port})
        say(f"mosquitto   127.0.0.1:{broker.port} (pid {broker.pid}, state in {broker.directory})")
    if not _port_is_free(settings.api.host, settings.api.port):
        say(f"port        {settings.api.port} is taken: the API listens on a free one (below)")
        settings.api = settings.api.model_copy(update={"port": 0})
    admin = None
    if settings.auth.admin_token is None:
        admin = new_token()
        settings.auth = settings.auth.model_copy(update={"admin_token": SecretStr(admin)})
        say(f"admin token {admin}  (this run only; set GRIDGATE_AUTH__ADMIN_TOKEN to keep one)")

    leader = _demo_leader_token(settings, loaded)
    api_url = f"http://{settings.api.host}:{settings.api.port}"
    told_stopping = False

    def say_stopping() -> None:
        nonlocal told_stopping
        if not told_stopping:
            told_stopping = True
            say(f"stopping    gateway ({api_url})")

    def on_ctrl_c() -> None:
        # say what stops, then stop the gateway the way SIGTERM does (its own handler)
        say_stopping()
        os.kill(os.getpid(), signal.SIGTERM)

    def announce(port: int) -> None:
        nonlocal api_url
        api_url = base = f"http://{settings.api.host}:{port}"
        login = f"#token={admin}" if admin else ""
        say(f"dashboard   {base}/{login}")
        if leader is not None:
            name, token = leader
            say(f"            {base}/#token={token}  (grid leader {name}: their grid only)")
        say(f"API         {base}/alerts  {base}/doors  {base}/lifts  {base}/health  {base}/metrics")
        say(f'            curl -H "Authorization: Bearer {admin or "<token>"}" {base}/alerts')
        say(f"API docs    {base}/docs  (Authorize with the admin token)")
        say("stop        Ctrl-C")
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
            simulator = spawn_sheltered(command)
            say(f"simulator   pid {simulator.pid}, seed {seed}")
        asyncio.run(serve(settings, loaded, on_ready=announce))
    except KeyboardInterrupt:
        pass  # Ctrl-C before the gateway took over the signals: stop what started, below
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut this short
        say_stopping()
        if simulator is not None:
            say(f"stopping    simulator (pid {simulator.pid})")
            _stop_process(simulator, SIMULATOR_STOP_S)
        if broker is not None:
            say(f"stopping    mosquitto (pid {broker.pid})")
            broker.stop()
        say(f"stopped     state kept in {settings.state_dir}")
    return 0


def spawn_sheltered(command: list[str]) -> subprocess.Popen[bytes]:
    """Start `command` with SIGINT ignored until it sets a handler of its own: a Ctrl-C
    while a Python child is still starting (importing `site`, before any of its code
    runs) would otherwise end it with a "Fatal Python error" and a traceback. The demo
    stops it itself (`_stop_process`); the simulator takes SIGINT again once it plays."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited across exec
    try:
        return subprocess.Popen(command, env=os.environ.copy())  # noqa: S603  # our own module
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop_process(process: subprocess.Popen[bytes], wait_s: float) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
