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
from gateway.places.registry import Registry
from gateway.places.roster import Person
from gateway.runtime.stats import Health
from gateway.store.db import Route, Store


@dataclass(frozen=True)
class AppContext:
    store: Store
    registry: Registry
    health: Health
    route: Route
    now: Callable[[], datetime]
    auth: Auth
    tz: ZoneInfo
    links: LinkSigner | None = None
    # set when the gateway stops: long-lived responses (the event stream) end themselves
    stopping: threading.Event = field(default_factory=threading.Event)
    # the outbox worker's wake-up, so a retried dead letter goes at once (service.py)
    wake_outbox: Callable[[], None] = lambda: None


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
    access_token: Annotated[
        str | None,
        Query(include_in_schema=False, max_length=200),  # EventSource cannot send headers
    ] = None,
) -> Person:
    token = credentials.credentials.strip() if credentials is not None else access_token
    if not token:
        raise _UNAUTHORIZED
    admin = context.auth.admin(token)
    if admin is not None:
        return admin
    person_id = context.store.person_for_token(hash_token(token))
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
Admin = Annotated[Person, Depends(_admin)]


def ensure_covers(person: Person, node_ids: tuple[str, ...], what: str) -> None:
    """403 unless `person` is responsible for a node on the path."""
    if not person.covers(node_ids):
        raise HTTPException(status_code=403, detail=f"{what} is outside the nodes you cover")
