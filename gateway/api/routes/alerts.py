"""Alerts: list with filters, one with its history, acknowledge, resolve."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from gateway.alerts.lifecycle import Action
from gateway.api.deps import Context, RowId, Viewer, visible_alert
from gateway.api.schemas import (
    AckBody,
    AlertDetail,
    AlertOut,
    AssignBody,
    CloseBody,
    CommentBody,
    CommentOut,
    EpisodeOut,
    Problem,
    ResolveBody,
    TransitionOut,
)
from gateway.places.roster import Person, Role
from gateway.store.records import AlertState
from rules.model import Severity

router = APIRouter(prefix="/alerts", tags=["alerts"])

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem, "description": "no token, or an unknown one"},
    403: {"model": Problem, "description": "your role may not do this"},
    404: {
        "model": Problem,
        "description": "no alert with that id among those you cover (the same answer "
        "whether it does not exist or is outside your grids)",
    },
    409: {"model": Problem, "description": "the alert's state does not allow this action"},
    503: {"model": Problem, "description": "the store cannot be written now"},
}


@router.get("", response_model=list[AlertOut])
def list_alerts(
    context: Context,
    person: Viewer,
    state: Annotated[list[AlertState] | None, Query(description="repeat for several")] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    device_id: Annotated[str | None, Query(max_length=64)] = None,
    node_id: Annotated[
        str | None, Query(max_length=64, description="any hierarchy node: grid, building, ...")
    ] = None,
    active: Annotated[bool | None, Query(description="condition still holds")] = None,
    overdue: Annotated[bool | None, Query(description="a deadline passed")] = None,
    raised_after: datetime | None = None,
    raised_before: datetime | None = None,
    before_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="page: ids below this")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlertOut]:
    """Newest first."""
    alerts = context.store.alerts.find(
        states=state,
        severities=severity,
        device_id=device_id,
        node_id=node_id,
        is_active=active,
        raised_after=raised_after,
        raised_before=raised_before,
        before_id=before_id,
        limit=limit,
        scope=context.auth.scope(person),
        is_overdue=overdue,
    )
    return [AlertOut.of(a) for a in alerts]


@router.get(
    "/{alert_id}",
    response_model=AlertDetail,
    responses={c: _ERRORS[c] for c in (401, 404)},
)
def get_alert(context: Context, person: Viewer, alert_id: RowId) -> AlertDetail:
    alert = visible_alert(context, person, alert_id)
    alerts = context.store.alerts
    return AlertDetail(
        **AlertOut.of(alert).model_dump(),
        history=[TransitionOut.of(t) for t in alerts.transitions(alert_id)],
        comments=[
            CommentOut(at=c.at, person_id=c.person_id, text=c.text)
            for c in alerts.comments(alert_id)
        ],
        episodes=[EpisodeOut.of(e) for e in alerts.episodes(alert_id)],
    )


@router.post("/{alert_id}/ack", response_model=AlertOut, responses=_ERRORS)
def acknowledge(context: Context, person: Viewer, alert_id: RowId, body: AckBody) -> AlertOut:
    """Take the alert: a person is on it."""
    visible_alert(context, person, alert_id)
    alert = context.desk.act(
        alert_id, Action.ACKNOWLEDGE, _actor(person, body.by), body.note, context.now()
    )
    return AlertOut.of(alert)


@router.post("/{alert_id}/resolve", response_model=AlertOut, responses=_ERRORS)
def resolve(context: Context, person: Viewer, alert_id: RowId, body: ResolveBody) -> AlertOut:
    """Record what was found and done."""
    visible_alert(context, person, alert_id)
    alert = context.desk.act(
        alert_id,
        Action.RESOLVE,
        _actor(person, body.by),
        body.note,
        context.now(),
        resolution=body.resolution,
    )
    return AlertOut.of(alert)


@router.post("/{alert_id}/close", response_model=AlertOut, responses=_ERRORS)
def close(context: Context, person: Viewer, alert_id: RowId, body: CloseBody) -> AlertOut:
    """Finish a resolved (or cleared) case. Grid leaders and above."""
    visible_alert(context, person, alert_id)
    if person.role == Role.GRID_WORKER:
        raise HTTPException(status_code=403, detail="closing a case is for grid leaders and above")
    alert = context.desk.act(
        alert_id, Action.CLOSE, _actor(person, body.by), body.note, context.now()
    )
    return AlertOut.of(alert)


@router.post("/{alert_id}/assign", response_model=AlertOut, responses=_ERRORS)
def assign(context: Context, person: Viewer, alert_id: RowId, body: AssignBody) -> AlertOut:
    """Give the alert to a person who covers its place; they are told."""
    alert = visible_alert(context, person, alert_id)
    assignee = context.auth.roster.people.get(body.person_id)
    if assignee is None:
        raise HTTPException(
            status_code=422, detail=f"person {body.person_id!r} is not in the roster"
        )
    if not assignee.covers(alert.node_ids):
        raise HTTPException(
            status_code=422, detail=f"{assignee.name} does not cover the alert's place"
        )
    return AlertOut.of(context.desk.assign(alert_id, assignee.id, person.id, context.now()))


@router.post("/{alert_id}/comments", status_code=201, responses=_ERRORS)
def comment(context: Context, person: Viewer, alert_id: RowId, body: CommentBody) -> CommentOut:
    """Add a note to the case (kept in its history)."""
    visible_alert(context, person, alert_id)
    now = context.now()
    context.desk.comment(alert_id, person.id, body.text, now)
    return CommentOut(at=now, person_id=person.id, text=body.text)


def _actor(person: Person, by: str | None) -> str:
    """The audit name: the token's person; an admin may act in someone's name."""
    if person.is_admin and by:
        return by
    return person.id
