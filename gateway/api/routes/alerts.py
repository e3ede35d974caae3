"""Alerts: list with filters, one with its history, acknowledge, resolve."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from gateway.alerts.lifecycle import Action
from gateway.alerts.model import AlertState
from gateway.api.deps import Context
from gateway.api.schemas import AckBody, AlertDetail, AlertOut, Problem, ResolveBody, TransitionOut
from rules.model import Severity

router = APIRouter(prefix="/alerts", tags=["alerts"])

_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": Problem, "description": "no alert with that id"},
    409: {"model": Problem, "description": "the alert's state does not allow this action"},
}


@router.get("", response_model=list[AlertOut])
def list_alerts(
    context: Context,
    state: Annotated[list[AlertState] | None, Query(description="repeat for several")] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    device_id: Annotated[str | None, Query(max_length=64)] = None,
    node_id: Annotated[
        str | None, Query(max_length=64, description="any hierarchy node: grid, building, ...")
    ] = None,
    active: Annotated[bool | None, Query(description="condition still holds")] = None,
    raised_after: datetime | None = None,
    raised_before: datetime | None = None,
    before_id: Annotated[int | None, Query(ge=1, description="page: ids below this")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlertOut]:
    """Newest first."""
    alerts = context.store.list_alerts(
        states=state,
        severities=severity,
        device_id=device_id,
        node_id=node_id,
        is_active=active,
        raised_after=raised_after,
        raised_before=raised_before,
        before_id=before_id,
        limit=limit,
    )
    return [AlertOut.of(a) for a in alerts]


@router.get("/{alert_id}", response_model=AlertDetail, responses={404: _ERRORS[404]})
def get_alert(context: Context, alert_id: int) -> AlertDetail:
    alert = context.store.get_alert(alert_id)
    history = [TransitionOut.of(t) for t in context.store.transitions(alert_id)]
    return AlertDetail(**AlertOut.of(alert).model_dump(), history=history)


@router.post("/{alert_id}/ack", response_model=AlertOut, responses=_ERRORS)
def acknowledge(context: Context, alert_id: int, body: AckBody) -> AlertOut:
    """Take the alert: a person is on it."""
    alert = context.store.act(
        alert_id, Action.ACKNOWLEDGE, body.by, body.note, context.now(), context.route
    )
    return AlertOut.of(alert)


@router.post("/{alert_id}/resolve", response_model=AlertOut, responses=_ERRORS)
def resolve(context: Context, alert_id: int, body: ResolveBody) -> AlertOut:
    """Close the case with what was found."""
    alert = context.store.act(
        alert_id, Action.RESOLVE, body.by, body.note, context.now(), context.route
    )
    return AlertOut.of(alert)
