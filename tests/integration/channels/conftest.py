"""Channels against local provider servers, through the real OutboxWorker and a real Store.

`Rig` raises alerts into a SQLite store in tmp_path with outbox rows for one channel, then
runs the worker until a condition holds (polled against a deadline).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.alerts.escalation import AlertPolicy
from gateway.alerts.lifecycle import Raise, on_raise
from gateway.alerts.notice import alert_json
from gateway.channels.base import Channel
from gateway.channels.registry import close_channels
from gateway.config import DEFAULT_SITE, OutboxSettings
from gateway.outbox.worker import OutboxWorker
from gateway.places.site import Site, load_site
from gateway.runtime.stats import Health
from gateway.store import Store
from gateway.store.records import Alert, Delivery
from gateway.store.step import StepWrite
from gateway.store.writer import Writer
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

        step = StepWrite()
        first_id = self.store.alerts.max_id() + 1
        first_row = self.store.outbox.max_id() + 1
        items = [
            Raise(
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
        for i, raised in enumerate(items):
            change = on_raise(raised, first_id + i, None, now, AlertPolicy())
            assert change is not None
            alert = change.alert
            step.alerts[alert.id] = alert
            step.log.append(change.log)
            event = "alert.raised"
            body = {"version": 1, "event": event, "alert": alert_json(alert), **(extra or {})}
            step.deliveries.append(
                Delivery(
                    id=first_row + i,
                    alert_id=alert.id,
                    event=event,
                    channel=channel,
                    target=target,
                    body=json.dumps(body, ensure_ascii=False),
                    idempotency_key=f"alert-{alert.id}-{event}-{target}",
                    attempts=0,
                    created_at=now,
                    next_attempt_at=now,
                )
            )
        self.store.write(step)
        return list(step.alerts.values())

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
        writer = Writer(self.store, self.health)
        worker = OutboxWorker(
            self.store, writer, channels, settings, self.health, lambda: datetime.now(UTC)
        )
        worker.load()
        task = asyncio.create_task(worker.run())
        deadline = time.monotonic() + timeout_s
        try:
            while not until():
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
                await asyncio.sleep(0.05)
        finally:
            worker.close()
            await worker.drain(5)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            writer.close()
            await close_channels(channels)

    def counts(self) -> dict[str, int]:
        return self.store.outbox.counts()

    def next_attempt_at(self) -> datetime | None:
        """When the earliest pending row is tried next, as the store has it."""
        pending = self.store.outbox.pending()
        return min((d.next_attempt_at for d in pending), default=None)


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
