"""Case figures: the category list, KPIs over any period by any grouping, the monthly
report (CSV or a printable page), and a community's public report link with its QR code.
Scoped: a person's figures count the cases of the nodes they cover."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from gateway.api.caseschemas import CategoryOut, KpiOut, KpiReportOut
from gateway.api.deps import AppContext, Context, Viewer, case_side
from gateway.api.schemas import Title
from gateway.cases.kpis import GroupBy, figures, grouped
from gateway.cases.report import month_bounds, to_csv, to_html
from gateway.places.roster import Person, Role
from gateway.places.site import Level
from gateway.store.records import Case

router = APIRouter(prefix="/cases", tags=["case figures"])


@router.get("/categories", response_model=list[CategoryOut])
def categories(context: Context, person: Viewer) -> list[CategoryOut]:
    """Every case category (小类) with its major category, standards and time limits."""
    policy = case_side(context).desk.stage.policy
    return [
        CategoryOut(
            id=c.id,
            major=c.major,
            name=Title(zh=c.name_zh, en=c.name_en),
            major_name=Title(zh=c.major_zh, en=c.major_en),
            severity=c.severity,
            filing=c.filing,
            closure=c.closure,
            limits={stage.value: str(limit) for stage, limit in c.limits.items()},
        )
        for c in policy.categories
    ]


def _cases(context: AppContext, person: Person, since: datetime, until: datetime,
           node_id: str | None) -> list[Case]:  # fmt: skip
    return context.store.cases.in_period(since, until, context.auth.scope(person), node_id)


def _names(context: AppContext) -> dict[str, str]:
    return {p.id: p.name for p in context.auth.roster.people.values()}


def _aware(at: datetime) -> datetime:
    """A time given without an offset is read as UTC (as the store reads it)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@router.get("/kpis", response_model=KpiReportOut)
def kpis(
    context: Context,
    person: Viewer,
    group: GroupBy = GroupBy.GRID,
    since: datetime | None = None,
    until: datetime | None = None,
    node_id: Annotated[str | None, Query(max_length=64)] = None,
) -> KpiReportOut:
    """Cases over [since, until) (default: the last 30 days) by grid, community, street,
    district, person (the handler), category, major category or source."""
    try:
        until = _aware(until or context.now())
        since = _aware(since or until - timedelta(days=30))
        cases = _cases(context, person, since, until, node_id)
    except (ValueError, OverflowError) as exc:  # a period beyond what a date can say
        raise HTTPException(status_code=422, detail=f"since/until: {exc}") from exc
    if since >= until:
        raise HTTPException(status_code=422, detail="since is not before until")
    names = _names(context)
    rows = grouped(cases, group, since, until, lambda p: names.get(p, p))
    return KpiReportOut(
        since=since,
        until=until,
        group=group.value,
        groups=[KpiOut.of(f) for f in rows],
        total=KpiOut.of(figures(cases, since, until)),
    )


@router.get("/report", responses={200: {"content": {"text/csv": {}, "text/html": {}}}})
def monthly_report(
    context: Context,
    person: Viewer,
    month: Annotated[str, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")],
    format: Annotated[Literal["csv", "html"], Query()] = "html",
    group: GroupBy = GroupBy.GRID,
    node_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The month's KPIs (site timezone) by `group`: CSV, or a printable page that also
    breaks them down by category and by source."""
    try:
        since, until = month_bounds(month, context.tz)
    except (ValueError, OverflowError) as exc:
        raise HTTPException(status_code=422, detail=f"month {month!r}: {exc}") from exc
    cases = _cases(context, person, since, until, node_id)
    names = _names(context)
    rows = grouped(cases, group, since, until, lambda p: names.get(p, p))
    total = figures(cases, since, until)
    if format == "csv":
        return PlainTextResponse(
            "\ufeff" + to_csv(rows, total),  # a BOM: spreadsheet programs read it as UTF-8
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="cases-{month}.csv"'},
        )
    sections = [
        (f"按{_GROUP_WORDS[group]}", rows),
        ("按事件类别", grouped(cases, GroupBy.CATEGORY, since, until)),
        ("按来源", grouped(cases, GroupBy.SOURCE, since, until)),
    ]
    return HTMLResponse(to_html(f"{month} 案件月报", month, sections, total))


_GROUP_WORDS = {
    GroupBy.GRID: "网格",
    GroupBy.COMMUNITY: "社区",
    GroupBy.STREET: "街道",
    GroupBy.DISTRICT: "区",
    GroupBy.PERSON: "处置人",
    GroupBy.CATEGORY: "事件类别",
    GroupBy.MAJOR: "大类",
    GroupBy.SOURCE: "来源",
}


class PlaceOut(BaseModel):
    id: str
    level: str
    name: str = Field(description="from the community down")


@router.get("/places", response_model=list[PlaceOut])
def places(context: Context, person: Viewer) -> list[PlaceOut]:
    """The places you may report a case at: your nodes and everything under them down
    to buildings (the report form's list)."""
    out = []
    for path in context.registry.site.nodes.values():
        if path[-1].level == Level.UNIT or not person.covers(n.id for n in path):
            continue
        words = [n.name for n in path if n.level not in (Level.DISTRICT, Level.STREET)]
        out.append(PlaceOut(id=path[-1].id, level=path[-1].level.value,
                            name=" / ".join(words) or path[-1].name))  # fmt: skip
    return out[:2000]


class ReportLink(BaseModel):
    node_id: str
    url: str
    qr_svg: str


def _leader_link(context: AppContext, person: Person, node_id: str) -> str:
    if person.role == Role.GRID_WORKER:
        raise HTTPException(status_code=403, detail="report links are for grid leaders and above")
    location = context.registry.site.nodes.get(node_id)
    if location is None or not person.covers(n.id for n in location):
        raise HTTPException(status_code=404, detail=f"no node {node_id!r} among those you cover")
    side = case_side(context)
    return side.links.url("/report/" + side.links.report_token(node_id))


@router.get("/report-link", response_model=ReportLink)
def report_link(
    context: Context, person: Viewer, node_id: Annotated[str, Query(max_length=64)]
) -> ReportLink:
    """The public report page of a community or grid (for its notice board)."""
    url = _leader_link(context, person, node_id)
    return ReportLink(node_id=node_id, url=url, qr_svg=f"/cases/report-link.svg?node_id={node_id}")


@router.get("/report-link.svg", responses={200: {"content": {"image/svg+xml": {}}}})
def report_qr(
    context: Context, person: Viewer, node_id: Annotated[str, Query(max_length=64)]
) -> Response:
    """The QR code of that link, to print."""
    import segno  # here: 0.8 MB of every gateway's memory for a page a leader prints

    out = io.BytesIO()
    segno.make(_leader_link(context, person, node_id), error="m").save(out, kind="svg", scale=6)
    return Response(out.getvalue(), media_type="image/svg+xml")
