"""What endpoints receive: the app's context and the person asking, typed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.alerts.links import LinkSigner
from gateway.api.auth import Auth, hash_token
from gateway.errors import AlertNotFound
from gateway.pipeline.alerting import AlertDesk
from gateway.places.registry import Registry
from gateway.places.roster import Person
from gateway.places.site import Placement
from gateway.runtime.stats import Health
from gateway.store import Store
from gateway.store.records import Alert, Delivery, DeviceState
from sensors.kinds import Kind


@dataclass(frozen=True)
class AppContext:
    store: Store  # reads; every change to an alert goes through the desk
    registry: Registry
    health: Health
    desk: AlertDesk
    now: Callable[[], datetime]
    auth: Auth
    tz: ZoneInfo
    links: LinkSigner | None = None
    # set when the gateway stops: long-lived responses (the event stream) end themselves
    stopping: threading.Event = field(default_factory=threading.Event)
    # hands a dead letter put back to pending to the outbox worker (service.py)
    revive: Callable[[Delivery], None] = lambda row: None


def _context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(_context)]

_UNAUTHORIZED = HTTPException(
    status_code=401,
    detail="a bearer token is needed: Authorization: Bearer <token>",
    headers={"WWW-Authenticate": "Bearer"},
)


_BEARER = HTTPBearer(auto_error=False, description="a person's token (gridgate token create)")


def _person(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
) -> Person:
    token = credentials.credentials.strip() if credentials is not None else None
    return _owner(context, token)


def _stream_person(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
    access_token: Annotated[
        str | None,
        Query(
            max_length=200,
            description="the token, for clients that cannot set a header (EventSource)",
        ),
    ] = None,
) -> Person:
    """Where a header cannot be set (the browser's EventSource), the token may come as
    `?access_token=`; everywhere else only in the Authorization header, so that it stays
    out of URLs, logs and browser history."""
    token = credentials.credentials.strip() if credentials is not None else access_token
    return _owner(context, token)


def _owner(context: AppContext, token: str | None) -> Person:
    if not token:
        raise _UNAUTHORIZED
    admin = context.auth.admin(token)
    if admin is not None:
        return admin
    person_id = context.store.people.person_for_token(hash_token(token))
    person = context.auth.roster.people.get(person_id) if person_id else None
    if person is None:
        raise HTTPException(
            status_code=401,
            detail="unknown or revoked token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return person


def _admin(person: Annotated[Person, Depends(_person)]) -> Person:
    if not person.is_admin:
        raise HTTPException(status_code=403, detail="this needs the admin role")
    return person


# a SQLite row id in a path: beyond 64 bits it is refused with 422, never a 500
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]

Viewer = Annotated[Person, Depends(_person)]
StreamViewer = Annotated[Person, Depends(_stream_person)]
Admin = Annotated[Person, Depends(_admin)]


def ensure_covers(person: Person, node_ids: tuple[str, ...], what: str) -> None:
    """403 unless `person` is responsible for a node on the path."""
    if not person.covers(node_ids):
        raise HTTPException(status_code=403, detail=f"{what} is outside the nodes you cover")


def visible_alert(context: AppContext, person: Person, alert_id: int) -> Alert:
    """The alert, if `person` covers its place; otherwise exactly the answer for an alert
    that does not exist (404), so that ids outside one's grids cannot be probed."""
    alert = context.store.alerts.get(alert_id)  # AlertNotFound
    if not person.covers(alert.node_ids):
        raise AlertNotFound(alert_id)
    return alert


def visible_devices(
    context: AppContext, person: Person, kind: Kind, node_id: str | None = None
) -> list[tuple[Placement, DeviceState | None]]:
    """In site order, the devices of `kind` on nodes `person` covers (and below `node_id`
    when given), each with what the gateway knows of it (None: nothing heard yet)."""
    states = context.store.devices.states()
    return [
        (placement, states.get(placement.device_id))
        for placement in context.registry.devices.values()
        if placement.kind == kind
        and (node_id is None or node_id in placement.node_ids())
        and person.covers(placement.node_ids())
    ]
