"""The telemetry buffer's rules, with a scripted writer in place of InfluxDB (no network).

The real write path runs against VictoriaMetrics in tests/integration/test_telemetry.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.config import DEFAULT_SITE, TelemetrySettings
from gateway.pipeline.steps import Accepted
from gateway.places.site import load_site
from gateway.runtime.stats import TelemetryStats
from gateway.sinks.telemetry import Mode, Outcome, Result, TelemetrySink, point_of
from sensors.kinds import Kind
from sensors.reading import Reading

SITE = load_site(DEFAULT_SITE)
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def accepted(seconds: float, device_id: str = "door-b1-u1", *, is_change: bool = True) -> Accepted:
    placement = SITE.placement(device_id)
    assert placement is not None
    at = T0 + timedelta(seconds=seconds)
    fields: dict[str, bool | int | float | str] = (
        {"open": True} if placement.kind == Kind.DOOR else {"smoke": False}
    )
    reading = Reading(
        device_id=device_id, kind=placement.kind, fields=fields, event_at=at, received_at=at
    )
    return Accepted(reading, placement, is_change)


class ScriptedWriter:
    """Answers each batch with the next scripted outcome (then WRITTEN), recording batches."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.batches: list[list[float]] = []
        self.on_written: Callable[[], object] = lambda: None

    def __call__(self, batch: list[Accepted]) -> Result:
        self.batches.append([(a.reading.event_at - T0).total_seconds() for a in batch])
        outcome = self.outcomes.pop(0) if self.outcomes else Outcome.WRITTEN
        if outcome == Outcome.WRITTEN:
            self.on_written()
        return Result(outcome, "" if outcome == Outcome.WRITTEN else "scripted")


def settings(**changes: Any) -> TelemetrySettings:
    base: dict[str, Any] = {
        "url": "http://127.0.0.1:9",
        "batch_size": 3,
        "buffer_capacity": 5,
        "flush_interval_s": 0.01,
        "retry_min_s": 0.01,
        "retry_max_s": 0.02,
        "shutdown_flush_s": 1,
    }
    return TelemetrySettings.model_validate({**base, **changes})


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coroutine, 10))


def test_overflow_drops_the_oldest_points_and_counts_them() -> None:
    async def scenario() -> None:
        stats = TelemetryStats()
        writer = ScriptedWriter()
        sink = TelemetrySink(settings(), stats, writer)
        sink.offer([accepted(s) for s in range(8)])  # no task running: nothing is written
        assert stats.buffered == 5
        assert stats.dropped["overflow"] == 3
        assert await sink.flush()
        assert writer.batches == [[3, 4, 5], [6, 7]]
        assert stats.written == 5
        assert stats.buffered == 0

    run(scenario())


def test_a_failed_batch_goes_back_to_the_head_and_is_written_first() -> None:
    async def scenario() -> None:
        stats = TelemetryStats()
        writer = ScriptedWriter(Outcome.RETRY)
        sink = TelemetrySink(settings(), stats, writer)
        sink.offer([accepted(s) for s in range(2)])
        assert not await sink.flush()
        assert stats.batches_failed == 1
        assert stats.last_error == "scripted"
        sink.offer([accepted(s) for s in range(2, 5)])
        assert stats.buffered == 5
        sink.offer([accepted(5)])  # full: the oldest (the failed batch's first) goes
        assert stats.dropped["overflow"] == 1
        assert await sink.flush()
        assert writer.batches[1:] == [[1, 2, 3], [4, 5]]
        assert stats.written == 5

    run(scenario())


def test_a_refused_batch_is_dropped_not_retried() -> None:
    async def scenario() -> None:
        stats = TelemetryStats()
        writer = ScriptedWriter(Outcome.REFUSED)
        sink = TelemetrySink(settings(), stats, writer)
        sink.offer([accepted(s) for s in range(4)])
        assert await sink.flush()
        assert writer.batches == [[0, 1, 2], [3]]
        assert stats.dropped["refused"] == 3
        assert stats.written == 1

    run(scenario())


def test_the_task_retries_with_backoff_until_the_server_takes_the_batch() -> None:
    async def scenario() -> None:
        stats = TelemetryStats()
        writer = ScriptedWriter(Outcome.RETRY, Outcome.RETRY)
        sink = TelemetrySink(settings(), stats, writer)
        written = asyncio.Event()
        loop = asyncio.get_running_loop()
        writer.on_written = lambda: loop.call_soon_threadsafe(written.set)
        sink.start()
        sink.offer([accepted(0), accepted(1)])
        await asyncio.wait_for(written.wait(), 5)
        await sink.close()
        assert stats.written == 2
        assert writer.batches == [[0, 1], [0, 1], [0, 1]]
        assert stats.batches_failed == 2
        assert sum(stats.dropped.values()) == 0

    run(scenario())


def test_close_flushes_what_is_left_and_counts_what_it_cannot_write() -> None:
    async def scenario() -> None:
        stats = TelemetryStats()
        sink = TelemetrySink(settings(flush_interval_s=60), stats, ScriptedWriter())
        sink.start()
        sink.offer([accepted(0)])  # below batch_size, long interval: only close writes it
        await sink.close()
        assert stats.written == 1

        down = TelemetryStats()
        failing = ScriptedWriter(*[Outcome.RETRY] * 10)
        sink = TelemetrySink(settings(flush_interval_s=60), down, failing)
        sink.start()
        sink.offer([accepted(0), accepted(1)])
        await sink.close()
        assert down.written == 0
        assert down.dropped["shutdown"] == 2
        assert down.buffered == 0

    run(scenario())


def test_changes_mode_keeps_state_changes_only() -> None:
    stats = TelemetryStats()
    sink = TelemetrySink(settings(per_kind={"door": "changes"}), stats, ScriptedWriter())
    sink.offer([accepted(0), accepted(1, is_change=False), accepted(2)])
    assert stats.buffered == 2
    assert stats.skipped == {"door": 1}


def test_sampled_mode_keeps_one_point_per_device_per_period() -> None:
    stats = TelemetryStats()
    sink = TelemetrySink(
        settings(buffer_capacity=100, per_kind={"door": "sampled:10"}), stats, ScriptedWriter()
    )
    sink.offer([accepted(s) for s in (0, 4, 9.9, 10, 15, 21)])
    sink.offer([accepted(3, "door-b1-u2"), accepted(5, "door-b1-u2")])
    sink.offer([accepted(s, "smoke-b1-u1") for s in (0, 1, 2)])  # smoke: all (not named)
    assert stats.buffered == 3 + 1 + 3
    assert stats.skipped == {"door": 4}


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("all", Mode()),
        ("changes", Mode(only_changes=True)),
        ("sampled:2.5", Mode(period_s=2.5)),
    ],
)
def test_mode_names_parse(text: str, mode: Mode) -> None:
    assert Mode.parse(text) == mode


@pytest.mark.parametrize("bad", ["sometimes", "sampled:", "sampled:0", "sampled:-1", "ALL"])
def test_settings_refuse_an_unknown_mode(bad: str) -> None:
    with pytest.raises(ValueError, match="per_kind"):
        settings(per_kind={"door": bad})


def test_a_point_carries_kind_device_hierarchy_static_tags_fields_and_event_time() -> None:
    point = point_of(accepted(1.5), {"gateway": "edge-01"})
    assert point == {
        "measurement": "door",
        "tags": {
            "device_id": "door-b1-u1",
            "district": "d1",
            "street": "s1",
            "community": "c1",
            "grid": "g1",
            "building": "b1",
            "unit": "b1-u1",
            "gateway": "edge-01",
        },
        "fields": {"open": True},
        "time": T0 + timedelta(seconds=1.5),
    }
