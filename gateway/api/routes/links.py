"""Act from the message: a signed link opens one alert for one person, no login needed."""

from __future__ import annotations

import html
from pathlib import Path
from string import Template
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException
from fastapi.responses import HTMLResponse

from gateway.alerts.lifecycle import Action
from gateway.alerts.links import LinkError
from gateway.api.deps import Context
from gateway.api.schemas import AlertOut, ResolveBody
from gateway.errors import AlertNotFound
from gateway.places.roster import Person
from gateway.store.records import Alert

router = APIRouter(prefix="/a", tags=["action links"])
_PAGE = Template((Path(__file__).parent.parent.parent / "web" / "link.html").read_text("utf-8"))


def _claim(context: Context, token: str) -> tuple[Alert, Person]:
    if context.links is None:
        raise HTTPException(status_code=404, detail="action links are not enabled")
    try:
        claim = context.links.verify(token, context.now())
    except LinkError as exc:
        raise HTTPException(status_code=403, detail=str(exc)) from exc
    person = context.auth.roster.people.get(claim.person_id)
    if person is None:
        raise HTTPException(status_code=403, detail="the link's person is no longer on the roster")
    revoked_at = context.store.people.revoked_at(person.id)
    if revoked_at is not None and claim.issued_at <= revoked_at:
        raise HTTPException(status_code=403, detail="the link was revoked with its person's tokens")
    try:
        alert = context.store.alerts.get(claim.alert_id)
    except AlertNotFound as exc:
        raise HTTPException(status_code=404, detail="the alert no longer exists") from exc
    if not person.covers(alert.node_ids):
        raise HTTPException(status_code=403, detail="the alert is outside the nodes you cover")
    return alert, person


@router.get("/{token}", response_class=HTMLResponse, include_in_schema=True)
def page(context: Context, token: str) -> HTMLResponse:
    """A small page for one alert: acknowledge or resolve it with one tap."""
    alert, person = _claim(context, token)
    body = _PAGE.substitute(
        title=html.escape(alert.title_zh),
        place=html.escape(alert.place),
        opened=alert.opened_at.astimezone(context.tz).strftime("%m-%d %H:%M"),
        state=alert.state.value,
        person=html.escape(person.name),
    )
    return HTMLResponse(body)


@router.post("/{token}/ack", response_model=AlertOut)
def acknowledge(context: Context, token: str) -> AlertOut:
    alert, person = _claim(context, token)
    done = context.desk.act(alert.id, Action.ACKNOWLEDGE, person.id, "via link", context.now())
    return AlertOut.of(done)


@router.post("/{token}/resolve", response_model=AlertOut)
def resolve(
    context: Context, token: str, body: Annotated[ResolveBody | None, Body()] = None
) -> AlertOut:
    alert, person = _claim(context, token)
    body = body or ResolveBody()
    done = context.desk.act(
        alert.id, Action.RESOLVE, person.id, body.note, context.now(), resolution=body.resolution
    )
    return AlertOut.of(done)
