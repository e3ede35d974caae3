"""`gridgate demo` as a person runs it: Ctrl-C says what stops and everything is gone
within 3 s; started again right away, it gets the same API port (a connection of the last
run in TIME_WAIT does not make the port taken)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.runtime.broker import free_port
from tests.support import REPO, wait_until

pytestmark = pytest.mark.integration

STOP_WITHIN_S = 3.0
TIME_WAIT = "06"  # the state column of /proc/net/tcp


@dataclass
class Demo:
    """`gridgate demo` in a process group of its own, as a terminal runs it."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def start(self) -> None:
        with self.log.open("a") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "demo"],
                env=self.env,
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,
            )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        wait_until(self._ready, 60, "the demo's 'stop  Ctrl-C' line")

    def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the demo exited: {self.lines} {self.log.read_text()[-2000:]}")
        return "stop        Ctrl-C" in self.lines

    def line(self, start: str) -> str:
        return next(line for line in self.lines if line.startswith(start))

    def pid(self, name: str) -> int:
        match = re.search(r"pid (\d+)", self.line(name))
        assert match is not None, self.lines
        return int(match.group(1))

    def port(self) -> int:
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", self.line("dashboard"))
        assert match is not None, self.lines
        return int(match.group(1))

    def token(self) -> str:
        return self.line("admin token").split()[2]

    def close(self) -> None:
        """Kill what is left (a test that failed half-way) and close the pipe."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        if self.reader is not None:
            self.reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _is_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state == "Z"  # exited, waiting for its parent to read the exit code


def _live_stream(port: int, token: str) -> socket.socket:
    """A dashboard's open event stream (the server closes it when it stops)."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn.sendall(
        f"GET /events?access_token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    )
    assert conn.recv(4096).startswith(b"HTTP/1.1 200"), "the event stream did not open"
    return conn


def _server_side_time_wait(port: int) -> bool:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            if int(local.rsplit(":", 1)[1], 16) == port and state == TIME_WAIT:
                return True
    return False


def _stop_and_check(demo: Demo, send: signal.Signals, *, to_group: bool) -> None:
    assert demo.process is not None
    children = {"mosquitto": demo.pid("mosquitto"), "simulator": demo.pid("simulator")}
    started = time.monotonic()
    if to_group:  # the terminal's Ctrl-C: every process of the foreground group
        os.killpg(demo.process.pid, send)
    else:
        demo.process.send_signal(send)
    demo.process.wait(timeout=10)
    took_s = time.monotonic() - started
    wait_until(lambda: all(_is_gone(p) for p in children.values()), 1, "the children gone")

    assert took_s <= STOP_WITHIN_S, f"the demo took {took_s:.1f} s to stop"
    assert all(_is_gone(p) for p in children.values()), children
    assert demo.process.returncode == 0
    wait_until(lambda: demo.lines and demo.lines[-1].startswith("stopped"), 2, "the last line")
    stopping = [line for line in demo.lines if line.startswith(("stopping", "stopped"))]
    assert stopping == [
        f"stopping    gateway (http://127.0.0.1:{demo.port()})",
        f"stopping    simulator (pid {children['simulator']})",
        f"stopping    mosquitto (pid {children['mosquitto']})",
        f"stopped     state kept in {demo.env['GRIDGATE_STATE_DIR']}",
    ]
    assert "Traceback" not in demo.log.read_text()


def test_ctrl_c_stops_everything_within_3_s_and_a_restart_gets_the_same_port(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GRIDGATE_STATE_DIR": str(tmp_path / "state"),
        "GRIDGATE_API__PORT": str(port),
    }
    first = Demo(env, tmp_path / "demo.1.log")
    second = Demo(env, tmp_path / "demo.2.log")
    try:
        first.start()
        assert first.port() == port
        stream = _live_stream(port, first.token())
        try:
            _stop_and_check(first, signal.SIGINT, to_group=False)
            while stream.recv(65536):  # read to the end (unread bytes make close a reset)
                pass
        finally:
            stream.close()
        # the gateway closed the stream first: its side of the connection is in TIME_WAIT
        wait_until(lambda: _server_side_time_wait(port), 2, "a connection in TIME_WAIT")

        second.start()  # right away

        assert second.port() == port, second.lines
        assert not any(line.startswith("port ") for line in second.lines), second.lines
        _stop_and_check(second, signal.SIGINT, to_group=True)
    finally:
        first.close()
        second.close()
