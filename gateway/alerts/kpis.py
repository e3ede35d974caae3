"""Alert KPIs per hierarchy node: how fast alerts are taken and closed (发现上报 → 限时办结).
Pure: alerts in, figures out. The gateway's /kpis and the city's roll-up
(gateway/city/api.py) both count with these functions, so a street's figure at the city is
what its communities' gateways would say of the same alerts."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from gateway.alerts.escalation import AlertPolicy
from gateway.places.site import Level
from gateway.store.records import Alert, AlertState

_CLOSED = (AlertState.RESOLVED, AlertState.CLOSED)


@dataclass(frozen=True)
class AlertFigures:
    node_id: str
    level: Level
    name: str
    raised: int
    acknowledged: int
    acknowledged_in_time: int  # acknowledged before the severity's deadline
    resolved: int
    resolution_rate: float | None  # resolved / raised
    median_ack_s: float | None
    median_resolve_s: float | None
    overdue: int
    open: int


def figures(node_id: str, level: Level, name: str, alerts: list[Alert],
            policy: AlertPolicy) -> AlertFigures:  # fmt: skip
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
    return AlertFigures(
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


def by_level(alerts: Iterable[Alert], level: Level, policy: AlertPolicy) -> list[AlertFigures]:
    """One figure per node of `level` the alerts lie under, by node id."""
    groups: dict[str, tuple[str, list[Alert]]] = {}
    for alert in alerts:
        node = next((n for n in alert.location if n.level == level), None)
        if node is None:
            continue
        groups.setdefault(node.id, (node.name, []))[1].append(alert)
    return [
        figures(nid, level, name, members, policy)
        for nid, (name, members) in sorted(groups.items())
    ]
