"""What endpoints receive: the app's context and the person asking, typed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.alerts.links import LinkSigner
from gateway.api.auth import Auth, hash_token
from gateway.cases.links import CaseLinks
from gateway.channels.ratelimit import KeyedWindows
from gateway.config import CasesSettings
from gateway.errors import AlertNotFound, CaseNotFound
from gateway.pipeline.alerting import AlertDesk
from gateway.pipeline.casework import CaseDesk
from gateway.places.departments import Department
from gateway.places.registry import Registry
from gateway.places.roster import Person
from gateway.places.site import Placement
from gateway.runtime.stats import Health
from gateway.store import Store
from gateway.store.records import Alert, Case, Delivery, DeviceState
from sensors.kinds import Kind


@dataclass
class CaseContext:
    """What the case endpoints need beyond the app's context (gateway/api/routes/cases.py)."""

    desk: CaseDesk
    links: CaseLinks
    settings: CasesSettings
    photos_dir: FilePath
    departments: Mapping[str, Department] = field(default_factory=dict)
    # the public report page's abuse limits, per client address and per phone
    per_ip: KeyedWindows = field(init=False)
    per_phone: KeyedWindows = field(init=False)
    limits_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        s = self.settings
        self.per_ip = KeyedWindows(s.reports_per_ip, s.reports_per_ip_window_s)
        self.per_phone = KeyedWindows(s.reports_per_phone, s.reports_per_phone_window_s)


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
    cases: CaseContext | None = None


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


def can_see_case(person: Person, case: Case) -> bool:
    """A person sees a case of the nodes they cover, or one dispatched to them (a
    department's member outside the grid)."""
    return (
        person.covers(case.node_ids)
        or person.id in case.dispatched_to
        or person.id in (case.handler, case.handled_by)
    )


def visible_case(context: AppContext, person: Person, case_id: int) -> Case:
    """The case, if `person` may see it; otherwise exactly the answer for a case that
    does not exist (404)."""
    case = context.store.cases.get(case_id)  # CaseNotFound
    if not can_see_case(person, case):
        raise CaseNotFound(case_id)
    return case


def case_side(context: AppContext) -> CaseContext:
    if context.cases is None:
        raise HTTPException(status_code=404, detail="cases are not enabled")
    return context.cases
