"""KPIs per hierarchy node: how fast alerts are taken and closed (发现上报 → 限时办结)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gateway.alerts.escalation import AlertPolicy
from gateway.alerts.kpis import AlertFigures, by_level, figures
from gateway.api.deps import Context, Viewer
from gateway.places.site import Level

router = APIRouter(tags=["kpis"])


class Kpi(BaseModel):
    node_id: str
    level: Level
    name: str
    raised: int
    acknowledged: int
    acknowledged_in_time: int = Field(description="acknowledged before the severity's deadline")
    resolved: int
    resolution_rate: float | None = Field(description="resolved / raised")
    median_ack_s: float | None
    median_resolve_s: float | None
    overdue: int
    open: int


class KpiReport(BaseModel):
    since: datetime
    until: datetime
    level: Level
    nodes: list[Kpi]
    total: Kpi


def _kpi(f: AlertFigures) -> Kpi:
    return Kpi(**dataclasses.asdict(f))


@router.get("/kpis", response_model=KpiReport)
def kpis(
    context: Context,
    person: Viewer,
    level: Level = Level.GRID,
    since: datetime | None = None,
    until: datetime | None = None,
    node_id: Annotated[str | None, Query(max_length=64)] = None,
) -> KpiReport:
    """Alerts raised in [since, until) (default: the last 7 days), grouped by `level`."""
    until = until or context.now()
    since = since or until - timedelta(days=7)
    alerts = context.store.alerts.find(
        raised_after=since,
        raised_before=until,
        node_id=node_id,
        scope=context.auth.scope(person),
        limit=1_000_000,
    )
    policy = AlertPolicy()
    nodes = [_kpi(f) for f in by_level(alerts, level, policy)]
    return KpiReport(
        since=since,
        until=until,
        level=level,
        nodes=nodes,
        total=_kpi(figures(node_id or "*", level, "total", alerts, policy)),
    )
