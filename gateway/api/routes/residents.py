"""What residents reach without an account (居民随手拍):

    /report/<token>          a community's (or grid's) report page, from its link or QR
                             code: what, where, a photo, a phone number; per-address and
                             per-phone limits against abuse (429 with Retry-After)
    /c/<token>               their own report, from the link the report answers with: its
                             state and timeline (no names of the people on it), the photos,
                             and the callback (回访) once it is closed

Links are signed (gateway/cases/links.py); anything else is 403, another case is 404.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel

from gateway.api.caseschemas import ResidentCaseOut
from gateway.api.deps import AppContext, CaseContext, Context, case_side
from gateway.api.photos import save_photos
from gateway.api.routes.cases import photo_file, place_words
from gateway.api.schemas import Title
from gateway.cases.links import CaseLinkError, phone_tag
from gateway.cases.workflow import Act, Actor, Command, Draft
from gateway.errors import CaseNotFound
from gateway.places.site import Level
from gateway.store.records import Case, CaseSource, CaseState, Reporter, Satisfaction

router = APIRouter(tags=["residents"])
WEB = Path(__file__).parent.parent.parent / "web"
RESIDENT = Actor("resident", None)
# what a resident's timeline says, in their words (no names of the people on it)
_TIMELINE = {
    "report": "已受理",
    "file": "已核实立案",
    "dispatch": "已派遣",
    "accept": "处置人员已接单",
    "handle": "已处置",
    "verify": "已核查结案",
    "rework": "复核未通过，重新处置",
    "hold": "暂缓处理",
    "cancel": "已作废",
    "callback": "已回访",
}
RESIDENT_CATEGORY = "other"


def _node(context: AppContext, token: str) -> str:
    try:
        node_id = case_side(context).links.report_node(token)
    except CaseLinkError as exc:
        raise HTTPException(status_code=403, detail=str(exc)) from exc
    if node_id not in context.registry.site.nodes:
        raise HTTPException(status_code=404, detail="this report page no longer exists")
    return node_id


@router.get("/report/{token}", response_class=HTMLResponse)
def report_page(context: Context, token: str) -> FileResponse:
    """The public report page (zh-CN, phone-sized)."""
    _node(context, token)
    return FileResponse(WEB / "report.html", media_type="text/html; charset=utf-8")


class PlaceOut(BaseModel):
    id: str
    name: str


class ReportPlaces(BaseModel):
    name: str
    places: list[PlaceOut]
    kinds: list[PlaceOut]


@router.get("/report/{token}/places", response_model=ReportPlaces)
def report_places(context: Context, token: str) -> ReportPlaces:
    """The places a resident may pick (the node's grids and buildings) and the kinds of
    problem, in words."""
    node_id = _node(context, token)
    site = context.registry.site
    top = site.nodes[node_id]
    under = [
        path
        for path in site.nodes.values()
        if len(path) > len(top) and path[: len(top)] == top
        and path[-1].level in (Level.GRID, Level.BUILDING)
    ]  # fmt: skip
    places = [PlaceOut(id=node_id, name=top[-1].name)] + [
        PlaceOut(id=p[-1].id, name=" / ".join(n.name for n in p[len(top) :])) for p in under
    ]
    policy = case_side(context).desk.stage.policy
    kinds = [PlaceOut(id=c.id, name=c.name_zh) for c in policy.categories]
    return ReportPlaces(name=top[-1].name, places=places, kinds=kinds)


class ReportAnswer(BaseModel):
    case_id: int
    link: str
    message: str


def _limit(side: CaseContext, ip: str, phone: str, now: datetime) -> None:
    with side.limits_lock:
        for windows, key, what in ((side.per_ip, ip, "address"), (side.per_phone, phone, "phone")):
            if windows.available(key, now) <= 0:
                wait = windows.window_s
                raise HTTPException(
                    status_code=429,
                    detail=f"too many reports from this {what}; try again later",
                    headers={"Retry-After": str(math.ceil(wait))},
                )
        side.per_ip.take(ip, now)
        side.per_phone.take(phone, now)


@router.post("/report/{token}", response_model=ReportAnswer, status_code=201)
def report(
    context: Context,
    request: Request,
    token: str,
    description: Annotated[str, Form(min_length=2, max_length=1000, description="what")],
    phone: Annotated[str, Form(pattern=r"^\+?[0-9]{5,15}$")],
    place: Annotated[
        str | None, Form(max_length=64, description="a place id the page lists")
    ] = None,
    address: Annotated[str | None, Form(max_length=200, description="where, in words")] = None,
    kind: Annotated[str | None, Form(max_length=48, description="what kind, if known")] = None,
    name: Annotated[str | None, Form(max_length=32)] = None,
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> ReportAnswer:
    """A resident's report: it waits for a grid worker's check on site (核实)."""
    node_id = _node(context, token)
    side = case_side(context)
    site = context.registry.site
    top = site.nodes[node_id]
    if place is not None:
        chosen = site.nodes.get(place)
        if chosen is None or chosen[: len(top)] != top:
            raise HTTPException(status_code=422, detail="pick a place from the list")
        node_id = place
    policy = side.desk.stage.policy
    category = policy.categories.get(kind or RESIDENT_CATEGORY) or next(iter(policy.categories))
    now = context.now()
    _limit(side, request.client.host if request.client else "-", phone, now)
    saved = save_photos(
        side.photos_dir, photos or [], "resident", now,
        max_bytes=side.settings.photo_max_bytes, max_count=min(3, side.settings.photos_per_request),
    )  # fmt: skip
    draft = Draft(
        source=CaseSource.RESIDENT,
        category=category,
        location=site.nodes[node_id],
        place=place_words(context, node_id, address),
        description=description,
        reporter=Reporter(name=name, phone=phone),
        address=address,
    )
    case = side.desk.report(draft, saved, RESIDENT, now)
    link = side.links.url("/c/" + side.links.resident_token(case.id, phone, now))
    return ReportAnswer(case_id=case.id, link=link, message="已收到，网格员将尽快到现场核实")


def _resident_case(context: AppContext, token: str) -> Case:
    side = case_side(context)
    try:
        case_id, tag = side.links.resident_case(token, context.now())
    except CaseLinkError as exc:
        raise HTTPException(status_code=403, detail=str(exc)) from exc
    case = context.store.cases.get(case_id)  # CaseNotFound
    if case.reporter.phone is None or phone_tag(case.reporter.phone) != tag:
        raise CaseNotFound(case_id)
    return case


@router.get("/c/{token}", response_class=HTMLResponse)
def resident_page(context: Context, token: str) -> FileResponse:
    _resident_case(context, token)
    return FileResponse(WEB / "resident.html", media_type="text/html; charset=utf-8")


@router.get("/c/{token}/case", response_model=ResidentCaseOut)
def resident_case(context: Context, token: str) -> ResidentCaseOut:
    case = _resident_case(context, token)
    history = context.store.cases.history(case.id)
    timeline = [
        {"at": e.at.isoformat(), "what": _TIMELINE[e.action]}
        for e in history
        if e.action in _TIMELINE
    ]
    photos = [p.id for p in context.store.cases.photos(case.id)]
    return ResidentCaseOut(
        id=case.id,
        title=Title(zh=case.title_zh, en=case.title_en),
        state=case.state,
        place=case.place,
        address=case.address,
        description=case.description,
        reported_at=case.reported_at,
        closed_at=case.closed_at,
        satisfaction=case.satisfaction,
        can_rate=case.state == CaseState.CLOSED and case.callback_at is None,
        timeline=timeline,
        photos=photos,
    )


@router.get("/c/{token}/photos/{photo_id}", response_class=FileResponse)
def resident_photo(context: Context, token: str, photo_id: str) -> FileResponse:
    case = _resident_case(context, token)
    return photo_file(context, case.id, photo_id)


@router.post("/c/{token}/callback", response_model=ResidentCaseOut)
def resident_callback(
    context: Context,
    token: str,
    satisfaction: Annotated[Satisfaction, Form()],
    note: Annotated[str | None, Form(max_length=500)] = None,
) -> ResidentCaseOut:
    """The resident's own callback (回访) on a closed case: once."""
    case = _resident_case(context, token)
    side = case_side(context)
    command = Command(Act.CALLBACK, note=note, satisfaction=satisfaction)
    side.desk.act(case.id, command, RESIDENT, [], context.now())
    return resident_case(context, token)
