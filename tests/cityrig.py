"""What the city's tests and bench/city.py start: the edge side of a Mosquitto bridge as
docker/mosquitto/city-bridge.conf has it, and a real PostgreSQL (ECOSYSTEM.md): Debian's
server binaries, a cluster made with initdb in a temp directory, on 127.0.0.1 and a free
port, its socket in that directory. PostgreSQL refuses to run as root: as root the
cluster is made and run as the `postgres` user (runuser). Stopped with pg_ctl; `kill`
stops it at once (the city's crash test)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from gateway.runtime.broker import free_port

USER = "gridgate"
REPO = Path(__file__).resolve().parent.parent


def bridge_config(name: str, addresses: list[int], topic: str = "gridgate/city") -> str:
    """The shipped bridge, to 127.0.0.1 at `addresses` (primary first), named `name`, with
    short timers."""
    shipped = (REPO / "docker" / "mosquitto" / "city-bridge.conf").read_text()
    lines = []
    for line in shipped.splitlines():
        word = line.split(" ", 1)[0]
        if word == "connection":
            line = f"connection {name}"
        elif word == "address":
            line = "address " + " ".join(f"127.0.0.1:{p}" for p in addresses)
        elif word == "remote_clientid":
            line = f"remote_clientid {name}"
        elif word == "restart_timeout":
            line = "restart_timeout 1 2"  # base and cap: the one-number form waits ~6 s
        elif word == "keepalive_interval":
            line = "keepalive_interval 5"
        elif word == "topic":
            line = f'topic {topic}/# out 1 "" ""'
        lines.append(line)
    return "\n".join(lines) + "\n"


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    assert found, "PostgreSQL is not installed: apt-get install -y postgresql"
    return found[-1]


class Postgres:
    """`directory` must be reachable by the postgres user when run as root: pytest's
    tmp_path is not (0700 root), so by default a fresh directory under the system's temp
    folder is made, and removed by `remove()`."""

    def __init__(self, directory: Path | None = None, port: int | None = None) -> None:
        self.directory = directory or Path(tempfile.mkdtemp(prefix="gridgate-pg-"))
        self.port = port or free_port()
        self._is_root = os.geteuid() == 0

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._is_root else []
        done = subprocess.run(  # fixed argv
            [*prefix, *argv], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed: {done.stderr.decode().strip()}")

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._is_root:
            shutil.chown(self.directory, "postgres", "postgres")
        if not self.data.exists():
            self._run(_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", USER,
                      "-E", "UTF8", "--locale=C.UTF-8")  # fmt: skip
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.directory / "pg.log"), "-w", "-t", "30", "start")  # fmt: skip

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.url(name)
