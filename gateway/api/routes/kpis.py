"""KPIs per hierarchy node: how fast alerts are taken and closed (发现上报 → 限时办结)."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gateway.alerts.escalation import AlertPolicy
from gateway.api.deps import Context, Viewer
from gateway.places.site import Level
from gateway.store.records import Alert, AlertState

router = APIRouter(tags=["kpis"])

_CLOSED = (AlertState.RESOLVED, AlertState.CLOSED)


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


def _kpi(node_id: str, level: Level, name: str, alerts: list[Alert], policy: AlertPolicy) -> Kpi:
    acked = [a for a in alerts if a.acknowledged_at is not None]
    resolved = [a for a in alerts if a.state in _CLOSED and a.resolved_at is not None]
    in_time = [
        a
        for a in acked
        if a.acknowledged_at is not None
        and a.acknowledged_at - a.raised_at
        <= timedelta(seconds=policy.times[a.severity].ack_within_s)
    ]
    ack_s = [(a.acknowledged_at - a.raised_at).total_seconds() for a in acked if a.acknowledged_at]
    res_s = [(a.resolved_at - a.raised_at).total_seconds() for a in resolved if a.resolved_at]
    return Kpi(
        node_id=node_id,
        level=level,
        name=name,
        raised=len(alerts),
        acknowledged=len(acked),
        acknowledged_in_time=len(in_time),
        resolved=len(resolved),
        resolution_rate=round(len(resolved) / len(alerts), 4) if alerts else None,
        median_ack_s=statistics.median(ack_s) if ack_s else None,
        median_resolve_s=statistics.median(res_s) if res_s else None,
        overdue=sum(1 for a in alerts if a.is_overdue),
        open=sum(1 for a in alerts if a.state not in (*_CLOSED, AlertState.CLEARED)),
    )


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
    groups: dict[str, tuple[str, list[Alert]]] = {}
    for alert in alerts:
        node = next((n for n in alert.location if n.level == level), None)
        if node is None:
            continue
        groups.setdefault(node.id, (node.name, []))[1].append(alert)
    nodes = [
        _kpi(nid, level, name, members, policy) for nid, (name, members) in sorted(groups.items())
    ]
    return KpiReport(
        since=since,
        until=until,
        level=level,
        nodes=nodes,
        total=_kpi(node_id or "*", level, "total", alerts, policy),
    )
