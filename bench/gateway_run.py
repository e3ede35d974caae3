"""The gateway as a real process (`python -m gateway.cli run`), configured by GRIDGATE_*."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from gateway.runtime.broker import free_port

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-admin-token-not-a-secret"  # noqa: S105  # a throwaway gateway on 127.0.0.1

RULES = """\
rules:
  - id: door_left_open
    when: held
    kind: door
    field: open
    equals: true
    hold_s: {hold_s}
    severity: warning
    title: {{zh: 门未关闭, en: Door left open}}
"""


def shipped_rules(folder: Path, hold_s: float, tree: Path = REPO) -> Path:
    """The rules gridgate ships (`tree`'s rules/defaults), with door_left_open held `hold_s`
    day and night so that a bench step can score it; everything else as shipped."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted((tree / "rules" / "defaults").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for rule in data["rules"]:
            if rule["id"] == "door_left_open":
                rule["hold_s"] = hold_s
                rule["night"]["hold_s"] = hold_s
        (folder / path.name).write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return folder


class Gateway:
    def __init__(
        self,
        tmp: Path,
        broker_port: int,
        root: str,
        site: Path,
        hold_s: float,
        *,
        rules: str = "door",
        env: dict[str, str] | None = None,
        tree: Path = REPO,
    ) -> None:
        """`rules`: "door" (door_left_open alone) or "shipped" (every shipped rule);
        `env`: more GRIDGATE_* settings (e.g. GRIDGATE_WEBHOOKS); `tree`: the checkout whose
        gateway runs (another commit's worktree, for bench/ab.py), this one by default."""
        self.tree = tree
        if rules == "shipped":
            rules_path = shipped_rules(tmp / "rules", hold_s, tree)
        else:
            rules_path = tmp / "rules.yaml"
            rules_path.write_text(RULES.format(hold_s=hold_s), encoding="utf-8")
        self.api_port = free_port()
        self.log = tmp / "gateway.log"
        self.env = {
            "GRIDGATE_MQTT__HOST": "127.0.0.1",
            "GRIDGATE_MQTT__PORT": str(broker_port),
            "GRIDGATE_MQTT__TOPIC_ROOT": root,
            "GRIDGATE_MQTT__CLIENT_ID": f"gridgate-{root}",
            "GRIDGATE_API__PORT": str(self.api_port),
            "GRIDGATE_STATE_DIR": str(tmp / "state"),
            "GRIDGATE_SITE_FILE": str(site),
            "GRIDGATE_RULES_FILE": str(rules_path),
            "GRIDGATE_AUTH__ADMIN_TOKEN": TOKEN,
            "GRIDGATE_LOG__LEVEL": "WARNING",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.api_port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the gateway is not running")
        return self.process.pid

    def start(self, timeout_s: float = 300) -> float:
        """Start and wait for /health 200; the seconds it took."""
        t0 = time.monotonic()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "run"],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.tree,  # `-m gateway.cli` imports the tree's gateway, not this one's
            )
        while time.monotonic() - t0 < timeout_s:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log.read_text()[-2000:]}")
            try:
                if self.http.get("/health", timeout=1).status_code == 200:
                    return time.monotonic() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gateway did not become healthy")

    def received(self) -> int:
        return int(self.health()["messages_received"])

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = self.http.get("/health").json()
        return body

    def alerts(self, raised_after: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 500, "raised_after": raised_after}
        while True:
            page = self.http.get("/alerts", params=params).json()
            out += page
            if len(page) < 500:
                return out
            params["before_id"] = min(a["id"] for a in page)

    def stop(self) -> None:
        process, self.process = self.process, None
        self.http.close()
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)
