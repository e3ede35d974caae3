"""Channels against local provider servers, through the real OutboxWorker and a real Store.

`Rig` raises alerts into a SQLite store in tmp_path with outbox rows for one channel, then
runs the worker until a condition holds (polled against a deadline).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.alerts.model import Alert
from gateway.alerts.notice import alert_json
from gateway.channels.base import Channel
from gateway.channels.registry import close_channels
from gateway.config import DEFAULT_SITE, OutboxSettings
from gateway.outbox.worker import OutboxWorker
from gateway.places.site import Site, load_site
from gateway.runtime.stats import Health
from gateway.store.db import Batch, OutboxEntry, RaisedEvent, Store
from rules.engine import AlertEvent, EventType
from rules.model import Severity
from tests.integration.channels.servers import DingtalkRobot, SmsProvider, WecomRobot

FAST = OutboxSettings(retry_min_s=0.05, retry_max_s=0.2, max_attempts=3)


@dataclass
class Rig:
    store: Store
    site: Site
    health: Health

    def raise_alerts(
        self,
        count: int,
        channel: str,
        target: str,
        *,
        severity: Severity = Severity.WARNING,
        extra: dict[str, Any] | None = None,
        device_id: str = "door-b1-u1",
        opened_at: datetime | None = None,
    ) -> list[Alert]:
        """`count` alerts (rules r0, r1, ... titled 告警0, 告警1, ...), one outbox row each."""
        placement = self.site.placement(device_id)
        assert placement is not None
        now = datetime.now(UTC)
        opened = opened_at or now - timedelta(minutes=5)

        def route(alert: Alert, event: str) -> list[OutboxEntry]:
            body = {"version": 1, "event": event, "alert": alert_json(alert), **(extra or {})}
            return [OutboxEntry(channel, target, body, f"alert-{alert.id}-{event}-{target}")]

        events = [
            RaisedEvent(
                event=AlertEvent(
                    type=EventType.RAISED,
                    rule_id=f"r{i}",
                    device_id=device_id,
                    kind=placement.kind,
                    severity=severity,
                    opened_at=opened,
                    at=now,
                    due_at=None,
                ),
                placement=placement,
                title_zh=f"告警{i}",
                title_en=f"Alert {i}",
            )
            for i in range(count)
        ]
        return self.store.apply(Batch(events=events), now, route)

    def run(
        self,
        build: Callable[[httpx.AsyncClient], dict[tuple[str, str], Channel]],
        until: Callable[[], object],
        *,
        timeout_s: float = 10.0,
        settings: OutboxSettings = FAST,
        what: str = "condition",
    ) -> None:
        """Run an OutboxWorker over `build(http_client)`'s channels until `until()` is
        truthy; fail at the deadline. Returns when the worker has stopped."""

        async def drive() -> None:
            async with httpx.AsyncClient() as http:
                await self._drive(build(http), until, timeout_s, settings, what)

        asyncio.run(drive())

    async def _drive(
        self,
        channels: dict[tuple[str, str], Channel],
        until: Callable[[], object],
        timeout_s: float,
        settings: OutboxSettings,
        what: str,
    ) -> None:
        worker = OutboxWorker(
            self.store, channels, settings, self.health, lambda: datetime.now(UTC)
        )
        task = asyncio.create_task(worker.run())
        deadline = time.monotonic() + timeout_s
        try:
            while not until():
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
                worker.wake()
                await asyncio.sleep(0.05)
        finally:
            worker.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await close_channels(channels)

    def counts(self) -> dict[str, int]:
        return self.store.outbox_counts()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    store = Store(tmp_path / "gridgate.db")
    yield Rig(store, load_site(DEFAULT_SITE), Health())
    store.close()


@pytest.fixture
def wecom() -> Iterator[WecomRobot]:
    server = WecomRobot()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def dingtalk() -> Iterator[DingtalkRobot]:
    server = DingtalkRobot()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sms() -> Iterator[SmsProvider]:
    server = SmsProvider()
    server.start()
    yield server
    server.stop()
