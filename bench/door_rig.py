"""The processes around the target of bench/doors.py: the site, the webhook receiver, the
two targets (gridgate as a real process, the naive baseline) and the load generator, each in
a process of its own and stopped by pid."""

from __future__ import annotations

import math
import multiprocessing as mp
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import door_traffic, naive, receiver
from bench.gateway_run import REPO, Gateway
from gateway.runtime.broker import LocalBroker
from simulator.site import Layout, generate, site_from_data, site_yaml

HOLD_S = 2.0  # door_left_open's hold, day and night, in every target
DOORS_PER_COMMUNITY = 205  # 5 grids x 10 buildings x 4 units + 5 gates
CTX = mp.get_context("spawn")


def midday_timezone(now: datetime) -> str:
    """A fixed-offset zone whose wall clock reads about 12:00 now (Etc/GMT-N is UTC+N)."""
    offset = 12 - now.hour
    if offset > 14:
        offset -= 24
    if offset < -12:
        offset += 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def make_site(doors: int, tmp: Path, timezone: str) -> tuple[Path, list[str]]:
    layout = Layout.uniform(max(1, math.ceil(doors / DOORS_PER_COMMUNITY)), 5, 10, 4)
    data = generate(1, layout)
    data["timezone"] = timezone
    path = tmp / "site.yaml"
    path.write_text(site_yaml(data), encoding="utf-8")
    return path, [d.device_id for d in site_from_data(data).devices if d.kind == "door"]


class Receiver:
    def __init__(self) -> None:
        self._conn, child = CTX.Pipe()
        self.process = CTX.Process(target=receiver.run, args=(child,), daemon=True)
        self.process.start()
        self.port: int = self._conn.recv()
        self.url = f"http://127.0.0.1:{self.port}/hook"

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def take(self) -> tuple[list[Any], dict[str, float]]:
        self._conn.send("take")
        records, stats = self._conn.recv()
        return records, stats

    def stop(self) -> None:
        self._conn.send("stop")
        self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


class GridgateTarget:
    name = "gridgate"

    def __init__(
        self, tmp: Path, broker: LocalBroker, site: Path, hook_url: str, tree: Path = REPO
    ) -> None:
        # version 2: the events due go together (docs/webhooks.md); the receiver counts alerts
        webhooks = f'[{{"name": "bench", "url": "{hook_url}", "version": 2}}]'
        self.gateway = Gateway(
            tmp, broker.port, "bench", site, HOLD_S, rules="shipped",
            env={"GRIDGATE_WEBHOOKS": webhooks}, tree=tree,
        )  # fmt: skip

    def start(self) -> float:
        return self.gateway.start()

    @property
    def pid(self) -> int:
        return self.gateway.pid

    def received(self) -> int:
        return self.gateway.received()

    def metrics(self) -> dict[str, float]:
        """The gateway's own counters (/metrics): pipeline steps and webhook deliveries."""
        text = self.gateway.http.get("/metrics").text
        out: dict[str, float] = {}
        for name, key in (
            ('gridgate_pipeline_step_seconds_sum{phase="evaluate"}', "evaluate_s"),
            ('gridgate_pipeline_step_seconds_count{phase="evaluate"}', "steps"),
            ('gridgate_pipeline_step_seconds_sum{phase="write"}', "write_s"),
            ('gridgate_delivery_latency_seconds_sum{channel="webhook"}', "delivery_s"),
            ('gridgate_delivery_latency_seconds_count{channel="webhook"}', "deliveries"),
        ):
            for line in text.splitlines():
                if line.startswith(name + " "):
                    out[key] = float(line.split()[-1])
        return out

    def is_drained(self, sent: int) -> bool:
        """Every message taken and no webhook delivery pending."""
        health = self.gateway.health()
        return bool(health["messages_received"] >= sent and not health["outbox"].get("pending", 0))

    def stop(self) -> None:
        self.gateway.stop()


class NaiveTarget:
    name = "naive"

    def __init__(self, broker: LocalBroker, hook_url: str) -> None:
        self._counts = CTX.RawArray("q", 3)  # messages taken, POSTs queued, POSTs sent
        self._ready = CTX.Event()
        self.process = CTX.Process(
            target=naive.run,
            args=(broker.port, hook_url, HOLD_S, self._counts, self._ready),
            daemon=True,
        )

    def start(self) -> float:
        t0 = time.monotonic()
        self.process.start()
        if not self._ready.wait(30):
            raise RuntimeError("the naive baseline did not subscribe")
        return time.monotonic() - t0

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def received(self) -> int:
        return int(self._counts[0])

    def metrics(self) -> dict[str, float]:
        return {}

    def is_drained(self, sent: int) -> bool:
        """Every message taken and every POST it queued sent."""
        return self.received() >= sent and self._counts[2] >= self._counts[1]

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)


Target = GridgateTarget | NaiveTarget


def play(traffic: door_traffic.Traffic, on_ready: Any = None) -> tuple[int, door_traffic.Played]:
    """Run the generator in a process of its own; `on_ready()` just before it starts.
    (messages planned, what it did)."""
    conn, child = CTX.Pipe()
    process = CTX.Process(target=door_traffic.run, args=(traffic, child), daemon=True)
    process.start()
    child.close()
    try:
        _, planned = conn.recv()
        if on_ready is not None:
            on_ready()
        conn.send("go")
        played: door_traffic.Played = conn.recv()
    finally:
        process.join(60)
        if process.is_alive():
            process.terminate()
            process.join(5)
    return planned, played


def wait_for(condition: Any, timeout_s: float, poll_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll_s)
    return bool(condition())
