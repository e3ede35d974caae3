"""Helpers the integration and end-to-end tests share: real servers on free ports.

Everything started here is stopped by pid in the fixture that started it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from gateway.runtime.broker import free_port

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "test-admin-token-0123456789"  # noqa: S105  # a test fixture's own token


def wait_until(
    condition: Callable[[], T | None], timeout_s: float = 15.0, what: str = "condition"
) -> T:
    """Poll `condition` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; last: {last!r}")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """A real HTTP server that records each POST and answers with `status`."""

    port: int
    status: int = 200
    requests: list[Received] = field(default_factory=list)
    attempts: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request (kill -9): not a POST
                    self.close_connection = True
                    return
                receiver.attempts += 1
                status = receiver.status
                if 200 <= status < 300:
                    receiver.requests.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def events(self) -> list[tuple[str, str]]:
        """(event, device_id) of each delivered body, in arrival order."""
        return [(r.json()["event"], r.json()["alert"]["device_id"]) for r in self.requests]


@dataclass
class GatewayProcess:
    """`gridgate run` (or another serving command: `command`) in a subprocess, configured
    by environment variables; up once its /health answers 200."""

    env: dict[str, str]
    log_path: Path
    api_port: int
    process: subprocess.Popen[bytes] | None = None
    command: tuple[str, ...] = ("run",)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, *, wait_connected: bool = True) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", *self.command],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        log.close()

        def up() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                name = " ".join(self.command)
                raise AssertionError(f"gridgate {name} exited: {self.log_path.read_text()[-3000:]}")
            try:
                health = httpx.get(self.base_url + "/health", timeout=1)
            except httpx.HTTPError:
                return False
            return health.status_code == 200 or not wait_connected

        wait_until(up, 20, f"gridgate {' '.join(self.command)}: its API (and broker connection)")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        process, self.process = self.process, None
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
                name = " ".join(self.command)
                raise AssertionError(f"gridgate {name} did not stop within 15 s") from None
        return process.returncode

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.env['GRIDGATE_AUTH__ADMIN_TOKEN']}"}

    def call(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """An HTTP request as the admin (or as the owner of `token`)."""
        headers = dict(kwargs.pop("headers", {}))
        headers.setdefault(
            "Authorization",
            f"Bearer {token}" if token else self.admin_headers["Authorization"],
        )
        return httpx.request(method, self.base_url + path, headers=headers, timeout=5, **kwargs)

    def get(self, path: str, **params: Any) -> Any:
        response = self.call("GET", path, params=params)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any], *, token: str | None = None) -> httpx.Response:
        return self.call("POST", path, json=body, token=token)


class EventStream:
    """A gateway's Server-Sent Events at `path`, read as `token`'s owner in a thread:
    each event's id and data in `events`, until `close`."""

    def __init__(self, gw: GatewayProcess, path: str, token: str, **headers: str) -> None:
        self.events: list[dict[str, Any]] = []
        self.connected = threading.Event()  # the server answered
        self._stop = threading.Event()
        self._args = (gw.base_url + path, {"Authorization": f"Bearer {token}", **headers})
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        wait_until(self.connected.is_set, 5, f"the stream {path} to connect")

    def _read(self) -> None:
        url, headers = self._args
        try:
            with httpx.stream(
                "GET", url, headers=headers, timeout=httpx.Timeout(5, read=None)
            ) as response:
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("retry: "):
                        self.connected.set()
                    elif line.startswith("id: "):
                        self.events.append({"id": int(line[4:])})
                    elif line.startswith("event: ") and self.events:
                        self.events[-1]["event"] = line[7:]
                    elif line.startswith("data: ") and self.events:
                        self.events[-1].update(json.loads(line[6:]))
        except httpx.HTTPError:
            if not self._stop.is_set():  # the gateway stopping ends it; anything else is a bug
                raise

    def close(self) -> None:
        """Stop reading (the thread ends with the next line the server sends)."""
        self._stop.set()


def run_refused_start(tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`gridgate run` with only `env` (and a state dir in `tmp`) set, for a configuration it
    must refuse before starting anything: the finished process, its stderr as text."""
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "run"],
        env={"GRIDGATE_STATE_DIR": str(tmp / "state"), "PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        check=False,
    )


def gateway_env(
    tmp: Path,
    broker_port: int,
    topic_root: str,
    *,
    webhooks: list[dict[str, object]] | None = None,
    rules_file: Path | None = None,
    site_file: Path | None = None,
    api_port: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[dict[str, str], int]:
    port = api_port or free_port()
    env = {
        "GRIDGATE_MQTT__HOST": "127.0.0.1",
        "GRIDGATE_MQTT__PORT": str(broker_port),
        "GRIDGATE_MQTT__TOPIC_ROOT": topic_root,
        "GRIDGATE_MQTT__CLIENT_ID": f"gridgate-{topic_root}",
        "GRIDGATE_MQTT__RECONNECT_MIN_S": "1",
        "GRIDGATE_MQTT__RECONNECT_MAX_S": "2",
        "GRIDGATE_API__PORT": str(port),
        "GRIDGATE_STATE_DIR": str(tmp / "state"),
        "GRIDGATE_WEBHOOKS": json.dumps(webhooks or []),
        "GRIDGATE_OUTBOX__RETRY_MIN_S": "0.2",
        "GRIDGATE_OUTBOX__RETRY_MAX_S": "1",
        "GRIDGATE_LOG__LEVEL": "DEBUG",
        "GRIDGATE_AUTH__ADMIN_TOKEN": ADMIN_TOKEN,
    }
    # the shipped rules read the wall clock (night holds, windows, quiet hours): a test
    # that does not choose its rules runs under them as they read by day, at any hour
    env["GRIDGATE_RULES_FILE"] = str(rules_file or shipped_rules_by_day(tmp))
    if site_file is not None:
        env["GRIDGATE_SITE_FILE"] = str(site_file)
    env.update(extra_env or {})
    return env, port


class Publisher:
    """A paho client that publishes QoS 1 and waits for each PUBACK."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{free_port()}")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=5)
        assert info.is_published(), f"publish to {topic} was not acknowledged"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def door(open_: bool, event_at: str | None = None) -> str:
    body: dict[str, Any] = {"kind": "door", "fields": {"open": open_}}
    if event_at is not None:
        body["event_at"] = event_at
    return json.dumps(body)


FAST_RULES = """\
rules:
  - id: door_left_open
    when: held
    kind: door
    field: open
    equals: true
    hold_s: {hold_s}
    severity: warning
    title: {{zh: 门未关闭, en: Door left open}}
  - id: smoke_detected
    when: immediate
    kind: smoke
    field: smoke
    equals: true
    severity: critical
    title: {{zh: 烟雾报警, en: Smoke detected}}
"""


def fast_rules(tmp: Path, hold_s: float) -> Path:
    path = tmp / "rules.fast.yaml"
    path.write_text(FAST_RULES.format(hold_s=hold_s), encoding="utf-8")
    return path


def door_ids(buildings: int, units: int) -> list[str]:
    """The doors of `door_site`, building by building."""
    return [f"door-{b}-{u}" for b in range(1, buildings + 1) for u in range(1, units + 1)]


def door_site(tmp: Path, buildings: int, units: int) -> Path:
    """A site file of one grid: `buildings` buildings of `units` units, a door each
    (`door_ids`), for tests that need more doors than the demo site has."""
    site_buildings = [
        {
            "id": f"b{b}",
            "name": f"{b}号楼",
            "units": [
                {
                    "id": f"b{b}-u{u}",
                    "name": f"{u}单元",
                    "devices": [{"id": f"door-{b}-{u}", "kind": "door"}],
                }
                for u in range(1, units + 1)
            ],
        }
        for b in range(1, buildings + 1)
    ]
    grid = {"id": "g1", "name": "第1网格", "buildings": site_buildings}
    community = {"id": "c1", "name": "光明社区", "grids": [grid]}
    street = {"id": "s1", "name": "和平街道", "communities": [community]}
    name = f"{buildings * units} doors"
    site = {"name": name, "district": {"id": "d1", "name": "示例区", "streets": [street]}}
    path = tmp / f"site.{buildings * units}-doors.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    return path


FIXTURES = REPO / "tests" / "fixtures"
SHIPPED_RULES = REPO / "rules" / "defaults"
WALL_CLOCK = REPO / "tests" / "wallclock"


def shipped_rules_by_day(tmp: Path) -> Path:
    """The shipped rules as they behave by day, whatever the hour the test runs at: night
    overrides and quiet hours dropped, and rules that only apply inside a window (door
    opened late at night) left out. A test of the windows themselves sets the clock the
    gateway runs on instead (`wall_clock_env`)."""
    folder = tmp / "rules.shipped-by-day"
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(SHIPPED_RULES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        rules = []
        for rule in data["rules"]:
            if "window" in rule:
                continue
            rule.pop("night", None)
            rule.pop("quiet", None)
            rules.append(rule)
        (folder / path.name).write_text(
            yaml.safe_dump({"rules": rules}, allow_unicode=True), encoding="utf-8"
        )
    return folder


def wall_clock_env(local_time: str, timezone: str = "Asia/Shanghai") -> dict[str, str]:
    """Environment that starts a Python process's wall clock at the most recent `local_time`
    in `timezone` and lets it run (tests/wallclock/sitecustomize.py): for a gateway whose
    rules must see the night, or the day, whenever the test runs. The offset adds to the
    one the whole suite may run under, since each process applies it to the real clock."""
    now = datetime.now(UTC)  # the suite's own (possibly faked) wall clock
    tz = ZoneInfo(timezone)
    local_now = now.astimezone(tz)
    at = datetime.combine(local_now.date(), clock_time.fromisoformat(local_time), tzinfo=tz)
    if at > local_now:
        at -= timedelta(days=1)
    inherited = float(os.environ.get("TEST_WALL_CLOCK_OFFSET_S") or 0)
    return {
        "TEST_WALL_CLOCK_OFFSET_S": str((at - now).total_seconds() + inherited),
        "PYTHONPATH": str(WALL_CLOCK),
    }


def fault_line(path: Path) -> int:
    """The line a bad-file fixture marks with `# fault`."""
    marked = [
        number
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "# fault" in text
    ]
    assert len(marked) == 1, f"{path.name} must mark exactly one line"
    return marked[0]


class BurstPublisher:
    """MQTT 3.1.1 on a plain socket: many QoS 1 PUBLISH packets in one write, PUBACKs
    counted on a thread. For loads a paho client could not send fast enough (its publish
    costs as much as the gateway's reading of it, and its thread takes turns with ours)."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        client_id = f"burst-{free_port()}".encode()
        body = b"\x00\x04MQTT\x04\x02\x00\x00" + len(client_id).to_bytes(2, "big") + client_id
        self._sock.sendall(b"\x10" + _varint(len(body)) + body)
        connack = self._sock.recv(4)
        assert connack[:1] == b"\x20", connack
        assert connack[3:4] == b"\x00", connack  # accepted
        self._sock.settimeout(None)
        self.acked = 0
        self._mid = 0
        threading.Thread(target=self._read_acks, daemon=True).start()

    def _read_acks(self) -> None:
        spare = 0  # a QoS 1 publisher only ever gets PUBACKs: 4 bytes each
        while True:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            spare += len(chunk)
            self.acked += spare // 4
            spare %= 4

    def send(self, messages: list[tuple[str, bytes]]) -> None:
        packets = []
        for topic, payload in messages:
            self._mid = self._mid % 65535 + 1
            name = topic.encode()
            rest = 2 + len(name) + 2 + len(payload)
            packets.append(
                b"\x32" + _varint(rest) + len(name).to_bytes(2, "big") + name
                + self._mid.to_bytes(2, "big") + payload
            )  # fmt: skip
        self._sock.sendall(b"".join(packets))

    def close(self) -> None:
        self._sock.close()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
