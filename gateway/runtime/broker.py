"""A private Mosquitto for the demo: free port on 127.0.0.1, its own directory, stopped by pid.

Used by `gridgate demo` when no broker is configured, and by the tests' fixtures.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

READY_TIMEOUT_S = 10.0


class BrokerError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
