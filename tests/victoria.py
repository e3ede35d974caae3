"""VictoriaMetrics as the InfluxDB write endpoint in tests (ECOSYSTEM: no real InfluxDB 2.x).

It accepts `/api/v2/write` from influxdb-client; we read points back with its own API:
`GET /internal/force_flush`, then `GET /api/v1/export?match[]=...` (one JSON line per
series, `__name__` = `<measurement>_<field>`). It drops the bucket, keeps milliseconds and
stores strings as 0, so tests isolate runs with a unique tag value and check what the
sink sends, not InfluxDB semantics. Started on 127.0.0.1, a free port, a temp directory;
stopped by pid.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx

from gateway.runtime.broker import free_port
from tests.support import wait_until

BINARY = "victoria-metrics"


class VictoriaMetrics:
    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which(BINARY)
        assert binary, "victoria-metrics not installed: apt-get install -y victoria-metrics"
        self.directory.mkdir(parents=True, exist_ok=True)
        log = (self.directory / "victoria-metrics.log").open("ab")
        self.process = subprocess.Popen(
            [
                binary,
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.directory / 'data'}",
                "-retentionPeriod=100y",
                "-search.latencyOffset=0s",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

        def up() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError("victoria-metrics exited at start")
            try:
                return httpx.get(self.url + "/ping", timeout=1).status_code < 300
            except httpx.HTTPError:
                return False

        wait_until(up, 10, "victoria-metrics to answer /ping")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def export(self, match: str) -> list[dict[str, Any]]:
        """Every series matching `match` (a series selector), after a forced flush."""
        httpx.get(self.url + "/internal/force_flush", timeout=5).raise_for_status()
        response = httpx.get(self.url + "/api/v1/export", params={"match[]": match}, timeout=5)
        response.raise_for_status()
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]

    def points(self, match: str) -> dict[tuple[str, str], dict[int, float]]:
        """(metric name, device_id) -> {timestamp ms: value} for the matching series."""
        out: dict[tuple[str, str], dict[int, float]] = {}
        for series in self.export(match):
            key = (series["metric"]["__name__"], series["metric"].get("device_id", ""))
            out.setdefault(key, {}).update(zip(series["timestamps"], series["values"], strict=True))
        return out
