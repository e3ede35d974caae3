"""Operating the gateway: check-config, an online backup, and SIGTERM in the middle of a
stream (state and telemetry of every accepted reading survive)."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gateway.runtime.broker import LocalBroker, free_port
from tests.support import REPO, GatewayProcess, Publisher, door, gateway_env, wait_until
from tests.victoria import VictoriaMetrics

pytestmark = pytest.mark.integration

DOORS = ["door-b1-u1", "door-b1-u2", "door-b2-u1", "door-b2-u2", "door-b3-u1", "door-b3-u2"]


def gridgate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        env={**os.environ, **(env or {})},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_accepts_telemetry_settings_and_names_the_line_of_a_bad_one(
    tmp_path: Path,
) -> None:
    good = tmp_path / "gridgate.good.yaml"
    good.write_text(
        "telemetry:\n"
        "  url: http://127.0.0.1:8086\n"
        "  token: s3cret\n"
        "  per_kind: {door: changes, smoke: 'sampled:30'}\n",
        encoding="utf-8",
    )
    ok = gridgate("check-config", "--config", str(good))
    assert ok.returncode == 0, ok.stderr
    assert "telemetry: http://127.0.0.1:8086/ bucket gridgate" in ok.stdout

    bad = tmp_path / "gridgate.telemetry-unknown-mode.yaml"
    bad.write_text(
        "telemetry:\n  url: http://127.0.0.1:8086\n  per_kind:\n    door: sometimes\n",
        encoding="utf-8",
    )
    refused = gridgate("check-config", "--config", str(bad))
    assert refused.returncode == 2
    assert f"{bad}:4:" in refused.stderr, refused.stderr
    assert "per_kind" in refused.stderr

    negative = tmp_path / "gridgate.telemetry-negative-capacity.yaml"
    negative.write_text("telemetry:\n  buffer_capacity: -1\n", encoding="utf-8")
    refused = gridgate("check-config", "--config", str(negative))
    assert refused.returncode == 2
    assert f"{negative}:2:" in refused.stderr, refused.stderr


def test_backup_while_the_gateway_runs_copies_its_alerts(
    tmp_path: Path, broker: LocalBroker, topic_root: str, publisher: Publisher
) -> None:
    env, port = gateway_env(tmp_path, broker.port, topic_root)
    gw = GatewayProcess(env=env, log_path=tmp_path / "gateway.log", api_port=port)
    gw.start()
    try:
        publisher.publish(
            f"{topic_root}/v1/smoke-b1-u1/reading", '{"kind":"smoke","fields":{"smoke":true}}'
        )
        (alert,) = wait_until(lambda: gw.get("/alerts"), 10, "the smoke alert")
        copy = tmp_path / "backups" / "gridgate-backup.db"
        copy.parent.mkdir()
        result = gridgate("backup", str(copy), env=env)
        assert result.returncode == 0, result.stderr
        assert f"ok: {copy}" in result.stdout
        assert "1 alerts" in result.stdout
        again = gridgate("backup", str(copy), env=env)
        assert again.returncode == 1
        assert "exists already" in again.stderr
        assert gw.get("/health")["status"] == "ok"  # the gateway did not notice
    finally:
        assert gw.stop() == 0

    assert sorted(p.name for p in copy.parent.iterdir()) == ["gridgate-backup.db"]
    db = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        rows = db.execute("SELECT id, rule_id, device_id, state FROM alerts").fetchall()
    finally:
        db.close()
    assert rows == [(alert["id"], "smoke_detected", "smoke-b1-u1", "raised")]


def test_sigterm_during_a_stream_loses_no_accepted_reading(
    tmp_path: Path,
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    victoria: VictoriaMetrics,
) -> None:
    run_tag = f"sigterm-{free_port()}"
    env, port = gateway_env(tmp_path, broker.port, topic_root)
    env.update(
        {
            "GRIDGATE_TELEMETRY__URL": victoria.url,
            "GRIDGATE_TELEMETRY__TAGS": json.dumps({"run": run_tag}),
            # nothing is written before shutdown: only the final flush can deliver them
            "GRIDGATE_TELEMETRY__FLUSH_INTERVAL_S": "3600",
            "GRIDGATE_TELEMETRY__BATCH_SIZE": "10000",
            "GRIDGATE_LOG__LEVEL": "INFO",
        }
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    stream = [
        (DOORS[i % len(DOORS)], i % 4 < 2, start + timedelta(milliseconds=100 * i))
        for i in range(240)
    ]
    last_open = {device: is_open for device, is_open, _ in stream}

    first = GatewayProcess(env=env, log_path=tmp_path / "gateway.1.log", api_port=port)
    first.start()
    sent = 0

    def publish_all() -> None:
        nonlocal sent
        for device, is_open, at in stream:
            publisher.publish(f"{topic_root}/v1/{device}/reading", door(is_open, at.isoformat()))
            sent += 1
            time.sleep(0.005)  # pacing, so that SIGTERM lands in the middle of the stream

    thread = threading.Thread(target=publish_all)
    try:
        thread.start()
        wait_until(lambda: first.get("/ingest/stats")["accepted"] >= 40, 10, "40 readings in")
        assert first.process is not None
        first.process.send_signal(signal.SIGTERM)
        assert first.stop() == 0  # waits for the exit
        stopped_after = sent
        thread.join(timeout=30)
        assert sent == len(stream)
    finally:
        first.stop()
    assert stopped_after < len(stream), "the stream ended before SIGTERM: nothing was tested"
    log = first.log_path.read_text(encoding="utf-8")
    assert "gateway_stopped" in log
    flushed = re.search(r"telemetry_stopped written=(\d+) dropped=0", log)
    assert flushed, log[-2000:]
    assert int(flushed.group(1)) >= 40  # written only by the final flush (interval: 1 h)
    assert "telemetry_unflushed" not in log

    second = GatewayProcess(env=env, log_path=tmp_path / "gateway.2.log", api_port=port)
    second.start()
    try:

        def doors_now() -> dict[str, bool] | None:
            doors = {d["device_id"]: d["state"] == "open" for d in second.get("/doors")}
            states = {device: doors.get(device) for device in DOORS}
            return states if states == last_open else None

        wait_until(doors_now, 15, f"door states {last_open}")
    finally:
        assert second.stop() == 0

    expected: dict[str, set[int]] = {door_id: set() for door_id in DOORS}
    for device, _, at in stream:
        expected[device].add(int(at.timestamp() * 1000))

    def written() -> dict[str, set[int]] | None:
        points = victoria.points(f'{{run="{run_tag}",__name__="door_open"}}')
        have = {device: set(points.get(("door_open", device), {})) for device in DOORS}
        return have if have == expected else None

    wait_until(written, 10, "every published reading in VictoriaMetrics")


def test_shipped_acl_keeps_each_device_account_to_its_own_topics(tmp_path: Path) -> None:
    """docker/mosquitto/acl in a real Mosquitto, with a password file like start.sh builds."""
    passwd = tmp_path / "passwd"
    passwd.write_text("", encoding="utf-8")
    accounts = {"gateway": "gw-pw", "door-b1-u1": "d1-pw", "door-b1-u2": "d2-pw"}
    for user, password in accounts.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
    passwd.chmod(0o600)
    broker = LocalBroker(tmp_path / "mosquitto", persistence=False)
    broker.directory.mkdir()
    broker.config_path.write_text(
        f"listener {broker.port} 127.0.0.1\n"
        + ("user root\n" if os.geteuid() == 0 else "")
        + "allow_anonymous false\n"
        f"password_file {passwd}\n"
        f"acl_file {REPO / 'docker' / 'mosquitto' / 'acl'}\n"
        f"log_dest file {broker.directory}/mosquitto.log\n",
        encoding="utf-8",
    )
    broker.start()
    clients: list[mqtt.Client] = []
    try:
        received: list[str] = []

        def connect(user: str | None, password: str | None) -> tuple[mqtt.Client, int]:
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=f"acl-{user}-{free_port()}",
                protocol=MQTTProtocolVersion.MQTTv5,
            )
            if user is not None:
                client.username_pw_set(user, password)
            codes: list[int] = []
            client.on_connect = lambda c, u, f, rc, p: codes.append(rc.value)
            client.connect("127.0.0.1", broker.port)
            client.loop_start()
            clients.append(client)
            wait_until(lambda: codes, 5, f"CONNACK for {user}")
            return client, codes[0]

        assert connect(None, None)[1] == 135  # not authorized: anonymous
        assert connect("door-b1-u1", "wrong")[1] in (134, 135)  # bad user name or password
        gateway, code = connect("gateway", "gw-pw")
        assert code == 0
        gateway.on_message = lambda c, u, m: received.append(m.topic)
        gateway.subscribe("gridgate/v1/#", qos=1)
        device, code = connect("door-b1-u1", "d1-pw")
        assert code == 0
        wait_until(lambda: gateway.subscribe("gridgate/v1/#", qos=1)[0] == 0, 5, "subscribed")
        for topic in (
            "gridgate/v1/door-b1-u2/reading",  # another device's topic: dropped
            "gridgate/v1/gateway/status",  # the gateway's own topic: dropped
            "gridgate/v1/door-b1-u1/reading",  # its own: delivered
        ):
            device.publish(topic, b"{}", qos=1).wait_for_publish(5)
        wait_until(lambda: received, 5, "the device's own reading at the gateway")
        device.publish("gridgate/v1/door-b1-u1/availability", b"online", qos=1).wait_for_publish(5)
        wait_until(lambda: len(received) >= 2, 5, "the availability message")
        assert received == ["gridgate/v1/door-b1-u1/reading", "gridgate/v1/door-b1-u1/availability"]
    finally:
        for client in clients:
            client.disconnect()
            client.loop_stop()
        broker.stop()


class _SlowReceiver:
    """A webhook receiver that takes `delay_s` to answer; `started` is set on each request."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.started = threading.Event()
        self.answered = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.started.set()
                time.sleep(receiver.delay_s)  # the slow receiver, not a test wait
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.answered += 1

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_sigterm_lets_a_delivery_in_flight_finish_and_records_it(
    tmp_path: Path, broker: LocalBroker, topic_root: str, publisher: Publisher
) -> None:
    receiver = _SlowReceiver(delay_s=1.0)
    env, port = gateway_env(
        tmp_path, broker.port, topic_root, webhooks=[{"name": "ops", "url": receiver.url}]
    )
    gw = GatewayProcess(env=env, log_path=tmp_path / "gateway.log", api_port=port)
    gw.start()
    try:
        publisher.publish(
            f"{topic_root}/v1/smoke-b1-u1/reading", '{"kind":"smoke","fields":{"smoke":true}}'
        )
        assert receiver.started.wait(10), "the webhook was never called"
        assert gw.stop() == 0  # SIGTERM while the receiver is still answering
    finally:
        gw.stop()
        receiver.stop()
    assert receiver.answered == 1
    db = sqlite3.connect(tmp_path / "state" / "gridgate.db")
    try:
        rows = db.execute("SELECT channel, state, attempts FROM outbox").fetchall()
    finally:
        db.close()
    assert rows == [("webhook", "delivered", 1)]
