"""Counters the gateway keeps in memory and shows at /ingest/stats and /health.

Only the asyncio loop writes them (paho's thread hands messages over first), so plain
integers are enough.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sensors.reading import Rejection


@dataclass
class IngestStats:
    received: int = 0
    accepted: int = 0
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)  # (adapter, reason)
    last_rejection: dict[tuple[str, str], Rejection] = field(default_factory=dict)
    inbox_full_waits: int = 0
    started_at: datetime | None = None

    def reject(self, rejection: Rejection) -> None:
        key = (rejection.adapter, rejection.reason.value)
        self.rejected[key] += 1
        self.last_rejection[key] = rejection

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


@dataclass
class AlertStats:
    raised: int = 0
    cleared: int = 0
    deliveries_ok: int = 0
    deliveries_retried: int = 0
    deliveries_dead: int = 0


@dataclass
class Health:
    """What /health reports; set by the parts that know."""

    is_broker_connected: bool = False
    broker_error: str | None = None
    store_error: str | None = None
    ingest: IngestStats = field(default_factory=IngestStats)
    alerts: AlertStats = field(default_factory=AlertStats)
