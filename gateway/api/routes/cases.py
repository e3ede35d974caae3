"""Cases: report one (multipart, with photos), list and filter, one with its timeline and
photos, each step of the workflow, a photo. Scoped like alerts: a person sees and acts on
the cases of the nodes they cover (and those dispatched to them); any other id is 404.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import FileResponse

from gateway.api.caseschemas import CaseDetail, CaseOut, EntryOut, PhotoOut
from gateway.api.deps import AppContext, Context, RowId, Viewer, case_side, visible_case
from gateway.api.photos import photo_path, save_photos
from gateway.api.schemas import Problem
from gateway.cases.calendar import Light
from gateway.cases.workflow import Act, Actor, Command, Draft, allowed_for
from gateway.errors import CaseNotFound, InvalidCase
from gateway.places.roster import Person, Role
from gateway.places.site import Level
from gateway.store.records import Case, CaseSource, CaseState, Reporter, Satisfaction

router = APIRouter(prefix="/cases", tags=["cases"])

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem, "description": "no token, or an unknown one"},
    403: {"model": Problem, "description": "your role or part in the case may not take this step"},
    404: {"model": Problem, "description": "no case with that id among those you may see"},
    409: {
        "model": Problem,
        "description": "the case's state does not allow this step "
        "(`allowed` names the steps it does)",
    },
    413: {"model": Problem, "description": "a photo over the size limit"},
    415: {"model": Problem, "description": "a photo that is not a JPEG, PNG or WebP image"},
    422: {"model": Problem, "description": "the step lacks what it needs (a reason, a note)"},
    503: {"model": Problem, "description": "the store cannot be written now"},
}
_SOURCES_BY_ROLE = {
    Role.GRID_WORKER: (CaseSource.PATROL,),
    Role.GRID_LEADER: (CaseSource.PATROL, CaseSource.HOTLINE, CaseSource.UPPER),
}


def actor_of(person: Person, case: Case) -> Actor:
    return Actor(person.id, person.role, person.covers(case.node_ids))


def case_out(context: AppContext, person: Person, case: Case) -> CaseOut:
    policy = case_side(context).desk.stage.policy
    return CaseOut.of(
        case,
        policy,
        context.now(),
        allowed=allowed_for(case, actor_of(person, case)),
        is_insider=person.covers(case.node_ids),
    )


def place_words(context: AppContext, node_id: str, address: str | None) -> str:
    location = context.registry.site.nodes[node_id]
    words = [n.name for n in location if n.level not in (Level.DISTRICT, Level.STREET)]
    if address:
        words.append(address)
    return " / ".join(words) or location[-1].name


@router.post("", response_model=CaseOut, status_code=201, responses=_ERRORS)
def report_case(
    context: Context,
    person: Viewer,
    category: Annotated[str, Form(min_length=1, max_length=48, description="小类 id")],
    description: Annotated[str, Form(min_length=1, max_length=2000)],
    node_id: Annotated[str | None, Form(max_length=64, description="a node you cover")] = None,
    device_id: Annotated[str | None, Form(max_length=64)] = None,
    address: Annotated[str | None, Form(max_length=200, description="where exactly")] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Form(ge=-180, le=180)] = None,
    source: Annotated[CaseSource, Form()] = CaseSource.PATROL,
    reporter_name: Annotated[str | None, Form(max_length=64)] = None,
    reporter_phone: Annotated[str | None, Form(pattern=r"^\+?[0-9]{5,15}$")] = None,
    photos: Annotated[list[UploadFile] | None, File(description="JPEG, PNG or WebP")] = None,
) -> CaseOut:
    """Report a case: a grid worker on patrol (filed at once, dispatched through the
    routing file), a leader taking a 12345 hotline call or a case from above."""
    side = case_side(context)
    policy = side.desk.stage.policy
    kind = policy.categories.get(category)
    if kind is None:
        raise HTTPException(status_code=422, detail=f"no case category {category!r}")
    if device_id is not None:
        placement = context.registry.placement(device_id)
        if placement is None:
            raise HTTPException(status_code=422, detail=f"no device {device_id!r}")
        node_id = node_id or placement.node.id
    if node_id is None or node_id not in context.registry.site.nodes:
        raise HTTPException(status_code=422, detail="name the place: node_id (or device_id)")
    location = context.registry.site.nodes[node_id]
    if not person.covers(n.id for n in location):
        raise HTTPException(status_code=403, detail="the place is outside the nodes you cover")
    allowed_sources = _SOURCES_BY_ROLE.get(person.role, tuple(CaseSource))
    if source not in allowed_sources or source in (CaseSource.SENSOR, CaseSource.RESIDENT):
        raise HTTPException(status_code=422, detail=f"you may not report a case as {source.value}")
    now = context.now()
    saved = save_photos(
        side.photos_dir, photos or [], person.id, now,
        max_bytes=side.settings.photo_max_bytes, max_count=side.settings.photos_per_request,
    )  # fmt: skip
    reporter = (
        Reporter(name=reporter_name, phone=reporter_phone)
        if source == CaseSource.HOTLINE and (reporter_name or reporter_phone)
        else Reporter(person_id=person.id, name=person.name)
    )
    draft = Draft(
        source=source,
        category=kind,
        location=location,
        place=place_words(context, node_id, address),
        description=description,
        reporter=reporter,
        device_id=device_id,
        address=address,
        lat=lat,
        lon=lon,
    )
    actor = Actor(person.id, person.role, True)
    return case_out(context, person, side.desk.report(draft, saved, actor, now))


@router.get("", response_model=list[CaseOut])
def list_cases(
    context: Context,
    person: Viewer,
    state: Annotated[list[CaseState] | None, Query(description="repeat for several")] = None,
    category: Annotated[list[str] | None, Query(description="小类 or 大类 ids")] = None,
    source: Annotated[list[CaseSource] | None, Query()] = None,
    node_id: Annotated[str | None, Query(max_length=64)] = None,
    overdue: Annotated[
        bool | None, Query(description="the stage in hand is past its limit")
    ] = None,
    light: Annotated[Light | None, Query(description="the case's light")] = None,
    mine: Annotated[bool, Query(description="dispatched to or handled by me")] = False,
    step: Annotated[
        Act | None,
        Query(description="only cases where I may take this step (verify: the verification queue)"),
    ] = None,
    reported_after: datetime | None = None,
    reported_before: datetime | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CaseOut]:
    """Newest first."""
    now = context.now()
    is_filtered = light is not None or step is not None or overdue is False
    cases = context.store.cases.find(
        states=state,
        categories=category,
        sources=source,
        node_id=node_id,
        person_id=person.id if mine else None,
        overdue_at=now if overdue else None,
        reported_after=reported_after,
        reported_before=reported_before,
        before_id=before_id,
        scope=context.auth.scope(person),
        viewer=person.id,
        limit=limit * 10 if is_filtered else limit,
    )
    out = [case_out(context, person, c) for c in cases]
    if overdue is False:
        out = [c for c in out if not c.is_overdue]
    if light is not None:
        out = [c for c in out if c.light == light]
    if step is not None:
        out = [c for c in out if step.value in c.allowed]
    return out[:limit]


@router.get("/{case_id}", response_model=CaseDetail, responses={c: _ERRORS[c] for c in (401, 404)})
def get_case(context: Context, person: Viewer, case_id: RowId) -> CaseDetail:
    case = visible_case(context, person, case_id)
    policy = case_side(context).desk.stage.policy
    category = policy.categories.get(case.category)
    cases = context.store.cases
    return CaseDetail(
        **case_out(context, person, case).model_dump(),
        history=[EntryOut.of(e) for e in cases.history(case_id)],
        photos=[
            PhotoOut(
                id=p.id,
                url=f"/cases/{case_id}/photos/{p.id}",
                at=p.at,
                by=p.by,
                content_type=p.content_type,
                size=p.size,
            )
            for p in cases.photos(case_id)
        ],
        filing_standard=None if category is None else category.filing,
        closure_standard=None if category is None else category.closure,
    )


@router.post("/{case_id}/{act}", response_model=CaseOut, responses=_ERRORS)
def take_step(
    context: Context,
    person: Viewer,
    case_id: RowId,
    act: Act,
    note: Annotated[str | None, Form(max_length=2000, description="what, or why")] = None,
    people: Annotated[
        list[str] | None, Form(description="dispatch: the people to send it to (repeat)")
    ] = None,
    department: Annotated[str | None, Form(max_length=64)] = None,
    limit: Annotated[
        str | None, Form(max_length=20, description="request_extension: '4h', '1d'")
    ] = None,
    satisfaction: Annotated[Satisfaction | None, Form()] = None,
    category: Annotated[str | None, Form(max_length=48, description="file: reclassify")] = None,
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> CaseOut:
    """Take one step: file (核实), dispatch, accept, return, handle, verify, rework,
    request_extension, approve_extension, deny_extension, hold, cancel, callback, comment."""
    case = visible_case(context, person, case_id)
    side = case_side(context)
    roster = context.auth.roster.people
    for p in people or ():
        if p not in roster:
            raise HTTPException(status_code=422, detail=f"person {p!r} is not in the roster")
    if department is not None and department not in side.departments:
        raise HTTPException(status_code=422, detail=f"no department {department!r}")
    if category is not None and side.desk.stage.policy.categories.get(category) is None:
        raise HTTPException(status_code=422, detail=f"no case category {category!r}")
    now = context.now()
    saved = save_photos(
        side.photos_dir, photos or [], person.id, now,
        max_bytes=side.settings.photo_max_bytes, max_count=side.settings.photos_per_request,
    )  # fmt: skip
    saved = [replace(p, case_id=case.id) for p in saved]
    command = Command(
        act=act,
        note=note,
        people=tuple(people or ()),
        department=department,
        limit=limit,
        satisfaction=satisfaction,
        category=category,
    )
    try:
        done = side.desk.act(case_id, command, actor_of(person, case), saved, now)
    except InvalidCase as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return case_out(context, person, done)


@router.get(
    "/{case_id}/photos/{photo_id}",
    response_class=FileResponse,
    responses={c: _ERRORS[c] for c in (401, 404)},
)
def get_photo(context: Context, person: Viewer, case_id: RowId, photo_id: str) -> FileResponse:
    """A photo of a case you may see (404 for any other)."""
    visible_case(context, person, case_id)
    return photo_file(context, case_id, photo_id)


def photo_file(context: AppContext, case_id: int, photo_id: str) -> FileResponse:
    side = case_side(context)
    photo = context.store.cases.photo(case_id, photo_id) if len(photo_id) == 32 else None
    path = None if photo is None else photo_path(side.photos_dir, photo_id)
    if photo is None or path is None:
        raise CaseNotFound(case_id)
    return FileResponse(
        path,
        media_type=photo.content_type,
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
