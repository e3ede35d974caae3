"""A private Mosquitto for the demo: free port on 127.0.0.1, its own directory, stopped by pid.

Used by `gridgate demo` when no broker is configured, and by the tests' fixtures.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

READY_TIMEOUT_S = 10.0


class BrokerError(Exception):
    pass


# Ports are handed out below the kernel's ephemeral range, so an outgoing connection never
# takes a port a server here was given (and gives up for a moment when it restarts).
PORTS_FROM = 20000
_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOCKS = Path(tempfile.gettempdir()) / "gridgate-ports"
_held: dict[int, int] = {}  # port -> fd of its lock file, held until this process exits
_cursor: list[int] = []


def _ports_below() -> int:
    try:
        return int(_EPHEMERAL.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port on 127.0.0.1 that no other caller of free_port on this machine holds.

    Each port is claimed with a lock file that this process keeps until it exits, and is
    never handed out twice by it: a server stopped and started again on its port (a broker
    restart, a gateway restart) finds the port still its own.
    """
    high = _ports_below()
    low = PORTS_FROM if high - PORTS_FROM >= 100 else 1024
    span = high - low
    if not _cursor:
        _cursor.append(os.getpid() * 7919 % span)  # processes started together start apart
    _LOCKS.mkdir(parents=True, exist_ok=True)
    for _ in range(span):
        port = low + _cursor[0] % span
        _cursor[0] += 1
        if port in _held:
            continue
        fd = os.open(_LOCKS / str(port), os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        if _bindable(port):
            _held[port] = fd
            return port
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    raise BrokerError(f"no free port on 127.0.0.1 between {low} and {high}")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class LocalBroker:
    """One Mosquitto process; `start()` waits until it accepts connections."""

    def __init__(
        self, directory: Path, port: int | None = None, *, persistence: bool = True
    ) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.persistence = persistence
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.directory / "mosquitto.conf"

    def write_config(self, extra: str = "") -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            # started as root, mosquitto would drop to its own user and lose write access
            "user root" if _is_root() else "",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.directory}/",
            "autosave_interval 1",
            "max_queued_messages 100000",
            f"log_dest file {self.directory}/mosquitto.log",
            "log_type error",
            "log_type warning",
            "log_type notice",
            extra,
        ]
        self.config_path.write_text("\n".join(line for line in lines if line) + "\n")

    def start(self) -> None:
        executable = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if executable is None:
            raise BrokerError(
                "mosquitto is not installed (Debian/Ubuntu: apt-get install mosquitto)"
            )
        if not self.config_path.exists():
            self.write_config()
        stderr_path = self.directory / "mosquitto.stderr"
        with stderr_path.open("ab") as stderr:
            self._process = subprocess.Popen(  # noqa: S603  # fixed argv, our own config file
                [executable, "-c", str(self.config_path)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = (
                    self._process.stderr.read().decode(errors="replace")
                    if self._process.stderr
                    else ""
                )
                raise BrokerError(
                    f"mosquitto exited with {self._process.returncode}: {err.strip()}"
                )
            if _accepts(self.port):
                return
            time.sleep(0.02)
        self.stop()
        raise BrokerError(f"mosquitto did not accept connections on port {self.port}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid


def _is_root() -> bool:
    return os.geteuid() == 0
