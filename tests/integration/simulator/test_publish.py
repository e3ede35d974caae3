"""The publisher against a real Mosquitto: every planned message arrives, as planned."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from simulator.behaviour import Behaviour, plan
from simulator.errors import PublishError
from simulator.publisher import Broker, publish
from simulator.scenario import IncidentKind, StagedIncident
from simulator.site import generate_site, site_from_data

if TYPE_CHECKING:  # fixtures' types; conftest is never imported at run time
    from tests.integration.simulator.conftest import Mosquitto, Recorder, Wait

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[3]


def test_every_planned_message_arrives_on_its_topic(
    mosquitto: Mosquitto, subscriber: Recorder, topic_root: str, wait_for: Wait
) -> None:
    devices = site_from_data(generate_site(seed=1)).devices
    start_at = datetime.now(UTC)
    incident = StagedIncident(IncidentKind.DOOR_LEFT_OPEN, "door-b1-u2", 5, 30)
    planned = plan(
        devices,
        [incident],
        seed=1,
        start_at=start_at,
        duration=timedelta(seconds=120),
        behaviour=Behaviour(rate_scale=50),
    )
    broker = Broker(mosquitto.host, mosquitto.port, client_id=f"sim-{topic_root}")

    report = publish(
        planned,
        device_ids=[d.device_id for d in devices],
        broker=broker,
        start_at=start_at,
        topic_root=topic_root,
        speed=200,
    )

    assert report.readings_sent == len(planned)
    assert report.acknowledged == len(planned)
    readings = [f"{topic_root}/v1/{d.device_id}/reading" for d in devices]
    expected = len(planned) + len(devices) + 2  # + availability + status online/offline
    wait_for(lambda: len(subscriber.snapshot()) >= expected, 10, f"{expected} messages")
    received = subscriber.snapshot()
    got = [(m.topic, json.loads(m.payload)) for m in received if m.topic in readings]
    assert got == [(f"{topic_root}/v1/{m.device_id}/reading", m.payload) for m in planned]
    assert all(m.qos == 1 and not m.retain for m in received if m.topic in readings)
    availability = {m.topic: m.payload for m in received if m.topic.endswith("/availability")}
    assert availability == {
        f"{topic_root}/v1/{d.device_id}/availability": b"online" for d in devices
    }
    status = [m.payload for m in received if m.topic == f"{topic_root}/v1/simulator/status"]
    assert status == [b"online", b"offline"]


def test_publishing_follows_the_plan_in_accelerated_time(
    mosquitto: Mosquitto, topic_root: str
) -> None:
    devices = site_from_data(generate_site(seed=2, buildings_per_grid=1)).devices
    start_at = datetime.now(UTC)
    planned = plan(devices, [], seed=2, start_at=start_at, duration=timedelta(seconds=120))
    broker = Broker(mosquitto.host, mosquitto.port, client_id=f"sim-{topic_root}")
    t0 = time.monotonic()
    report = publish(
        planned,
        device_ids=[],
        broker=broker,
        start_at=start_at,
        topic_root=topic_root,
        speed=60,
        end_at=start_at + timedelta(seconds=120),
    )
    elapsed_s = time.monotonic() - t0
    assert report.readings_sent == len(planned)
    assert 1.9 <= elapsed_s < 10  # 120 simulated seconds at 60x


def test_a_stop_event_ends_a_run_early(mosquitto: Mosquitto, topic_root: str) -> None:
    devices = site_from_data(generate_site(seed=2)).devices
    start_at = datetime.now(UTC)
    often = Behaviour(heartbeat_s=0.2)  # every device reports within 0.2 s, then often
    planned = plan(
        devices, [], seed=2, start_at=start_at, duration=timedelta(minutes=10), behaviour=often
    )
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    try:
        report = publish(
            planned,
            device_ids=[],
            broker=Broker(mosquitto.host, mosquitto.port, client_id=f"sim-{topic_root}"),
            start_at=start_at,
            topic_root=topic_root,
            stop=stop,
        )
    finally:
        timer.cancel()
    assert report.is_stopped_early
    assert report.elapsed_s < 5
    assert 0 < report.readings_sent < len(planned)
    assert report.acknowledged == report.readings_sent


def test_an_unreachable_broker_is_a_publish_error() -> None:
    start_at = datetime.now(UTC)
    with pytest.raises(PublishError, match=r"cannot reach the broker at 127\.0\.0\.1:1\b"):
        publish([], device_ids=[], broker=Broker("127.0.0.1", 1), start_at=start_at)


def test_the_command_stops_cleanly_on_sigterm(
    mosquitto: Mosquitto, subscriber: Recorder, topic_root: str, wait_for: Wait
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [
        sys.executable, "-m", "simulator", "run",
        "--host", mosquitto.host, "--port", str(mosquitto.port),
        "--topic-root", topic_root, "--seed", "3", "--speed", "20", "--rate-scale", "20",
    ]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(
            lambda: any(m.topic.endswith("/reading") for m in subscriber.snapshot()),
            15,
            "a first reading from the simulator",
        )
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    assert proc.returncode == 0, err.decode()
    assert b"simulator stopped:" in out
    wait_for(
        lambda: any(m.payload == b"offline" for m in subscriber.snapshot()), 5, "status offline"
    )
