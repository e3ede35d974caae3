"""The telemetry sink against a real InfluxDB write endpoint (VictoriaMetrics), directly and
through the gateway process; an outage in the middle of a run.

VictoriaMetrics names a series `<measurement>_<field>`, stores booleans as 1/0 and keeps
millisecond timestamps: the assertions read it that way. Each test tags its points with a
unique `run` value.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import DEFAULT_SITE, TelemetrySettings
from gateway.pipeline.steps import Accepted
from gateway.places.site import load_site
from gateway.runtime.broker import LocalBroker, free_port
from gateway.runtime.stats import TelemetryStats
from gateway.sinks.telemetry import TelemetrySink
from sensors.reading import FieldValue, Reading
from tests.support import GatewayProcess, Publisher, gateway_env, wait_until
from tests.victoria import VictoriaMetrics

pytestmark = pytest.mark.integration

SITE = load_site(DEFAULT_SITE)
_runs = itertools.count(1)


@pytest.fixture
def run_tag() -> str:
    return f"run-{next(_runs)}-{free_port()}"


def reading(device_id: str, at: datetime, **fields: FieldValue) -> Accepted:
    placement = SITE.placement(device_id)
    assert placement is not None
    return Accepted(
        Reading(
            device_id=device_id, kind=placement.kind, fields=fields, event_at=at, received_at=at
        ),
        placement,
        is_change=True,
    )


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def sink_settings(url: str, run_tag: str, **changes: Any) -> TelemetrySettings:
    values: dict[str, Any] = {
        "url": url,
        "token": "not-checked-by-victoria-metrics",
        "tags": {"run": run_tag},
        "flush_interval_s": 0.05,
        "retry_min_s": 0.05,
        "retry_max_s": 0.2,
        "timeout_s": 2,
        **changes,
    }
    return TelemetrySettings.model_validate(values)


def test_sink_writes_a_measurement_per_kind_with_hierarchy_tags_at_event_time(
    victoria: VictoriaMetrics, run_tag: str
) -> None:
    at = datetime.now(UTC).replace(microsecond=123_000) - timedelta(minutes=5)
    stats = TelemetryStats()

    async def scenario() -> None:
        sink = TelemetrySink(sink_settings(victoria.url, run_tag, batch_size=2), stats)
        sink.start()
        sink.offer(
            [
                reading("door-b1-u1", at, open=True, battery=87.5),
                reading("door-b1-u1", at + timedelta(seconds=1), open=False),
                reading("smoke-b2-u1", at, smoke=False, tamper=True),
            ]
        )
        await sink.close()

    asyncio.run(scenario())
    assert stats.written == 3
    assert stats.batches_written == 2  # batch_size 2: the third point went in its own batch

    series = wait_until(
        lambda: (s := victoria.export(f'{{run="{run_tag}"}}')) and len(s) == 4 and s,
        10,
        "4 series",
    )
    by_name = {s["metric"]["__name__"]: s for s in series}
    assert set(by_name) == {"door_open", "door_battery", "smoke_smoke", "smoke_tamper"}
    door = by_name["door_open"]
    assert door["metric"] == {
        "__name__": "door_open",
        "device_id": "door-b1-u1",
        "district": "d1",
        "street": "s1",
        "community": "c1",
        "grid": "g1",
        "building": "b1",
        "unit": "b1-u1",
        "run": run_tag,
    }
    assert door["timestamps"] == [ms(at), ms(at) + 1000]  # event time, milliseconds
    assert door["values"] == [1, 0]  # booleans: true/false, read back as 1/0
    assert by_name["door_battery"]["values"] == [87.5]
    assert by_name["smoke_tamper"]["values"] == [1]
    assert by_name["smoke_smoke"]["metric"]["unit"] == "b2-u1"


def test_outage_buffers_points_drops_the_oldest_beyond_capacity_and_delivers_the_rest(
    tmp_path: Path, run_tag: str
) -> None:
    server = VictoriaMetrics(tmp_path / "vm")
    server.start()
    try:
        _outage(server, run_tag)
    finally:
        server.stop()


def _outage(server: VictoriaMetrics, run_tag: str) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    times = [start + timedelta(seconds=s) for s in range(12)]
    stats = TelemetryStats()
    # retries far enough apart that none starts while the test offers points
    settings = sink_settings(
        server.url, run_tag, batch_size=2, buffer_capacity=5, retry_min_s=0.3, retry_max_s=0.5
    )

    async def scenario() -> None:
        sink = TelemetrySink(settings, stats)
        sink.start()
        sink.offer([reading("door-b1-u1", t, open=True) for t in times[:3]])
        await _until(lambda: stats.written == 3, "the first 3 points")

        await asyncio.to_thread(server.stop)
        sink.offer([reading("door-b1-u1", times[3], open=True)])
        await _until(lambda: stats.batches_failed >= 1, "a failed write")
        # the outage goes on; ingest keeps offering and offer never waits
        for t in times[4:]:
            loop = asyncio.get_running_loop()
            began = loop.time()
            sink.offer([reading("door-b1-u1", t, open=True)])
            assert loop.time() - began < 0.05
        assert stats.buffered == 5
        assert stats.dropped["overflow"] == 4  # 9 points waited, room for 5: the oldest 4 went

        await asyncio.to_thread(server.start)  # same port, same data directory
        await _until(lambda: stats.written == 8, "the buffered points after the restart")
        await sink.close()

    asyncio.run(scenario())
    assert stats.buffered == 0
    assert stats.last_error is None
    points = wait_until(
        lambda: server.points(f'{{run="{run_tag}"}}').get(("door_open", "door-b1-u1")),
        10,
        "points in VictoriaMetrics",
    )
    expected = [ms(t) for t in times[:3] + times[7:]]  # before the outage, and the newest 5
    wait_until(
        lambda: (
            sorted(server.points(f'{{run="{run_tag}"}}')[("door_open", "door-b1-u1")]) == expected
        ),
        10,
        f"exactly {expected}; had {sorted(points)}",
    )


async def _until(condition: Callable[[], bool], what: str, timeout_s: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
def telemetry_gateway(
    tmp_path: Path,
    broker: LocalBroker,
    topic_root: str,
    victoria: VictoriaMetrics,
    run_tag: str,
) -> Iterator[GatewayProcess]:
    env, port = gateway_env(tmp_path, broker.port, topic_root)
    env.update(
        {
            "GRIDGATE_TELEMETRY__URL": victoria.url,
            "GRIDGATE_TELEMETRY__TOKEN": "secret-token",
            "GRIDGATE_TELEMETRY__FLUSH_INTERVAL_S": "0.1",
            "GRIDGATE_TELEMETRY__TAGS": json.dumps({"run": run_tag}),
            "GRIDGATE_TELEMETRY__PER_KIND": json.dumps({"smoke": "changes"}),
        }
    )
    process = GatewayProcess(env=env, log_path=tmp_path / "gateway.log", api_port=port)
    process.start()
    yield process
    process.stop()


def test_gateway_writes_published_readings_to_influx_through_the_broker(
    telemetry_gateway: GatewayProcess,
    publisher: Publisher,
    topic_root: str,
    victoria: VictoriaMetrics,
    run_tag: str,
) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    sent = []
    for i, is_open in enumerate([True, False, True]):
        event_at = at + timedelta(seconds=i)
        sent.append(ms(event_at))
        body = {"kind": "door", "fields": {"open": is_open}, "event_at": event_at.isoformat()}
        publisher.publish(f"{topic_root}/v1/door-b2-u2/reading", json.dumps(body))
    for i in range(3):  # smoke in `changes` mode: only the first (unknown → clear) is kept
        body = {
            "kind": "smoke",
            "fields": {"smoke": False},
            "event_at": (at + timedelta(seconds=i)).isoformat(),
        }
        publisher.publish(f"{topic_root}/v1/smoke-b3-u1/reading", json.dumps(body))

    match = f'{{run="{run_tag}"}}'
    points = wait_until(
        lambda: (
            (p := victoria.points(match)).get(("door_open", "door-b2-u2"), {}).keys() == set(sent)
            and ("smoke_smoke", "smoke-b3-u1") in p
            and p
        ),
        15,
        "the door readings in VictoriaMetrics",
    )
    assert points[("door_open", "door-b2-u2")] == dict(zip(sent, [1, 0, 1], strict=True))
    assert list(points[("smoke_smoke", "smoke-b3-u1")]) == [ms(at)]
    series = victoria.export(match)
    assert {s["metric"]["grid"] for s in series} == {"g1"}
    url = telemetry_gateway.base_url + "/metrics"
    metrics = wait_until(
        lambda: (
            (text := httpx.get(url, timeout=5).text)
            and "gridgate_telemetry_points_written_total 4.0\n" in text
            and text
        ),
        5,
        "4 points written in /metrics",
    )
    assert "gridgate_telemetry_enabled 1.0\n" in metrics
    assert 'gridgate_telemetry_points_skipped_total{kind="smoke"} 2.0\n' in metrics
    assert "secret-token" not in json.dumps(telemetry_gateway.get("/health"))
