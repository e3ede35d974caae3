"""Response bodies of the case endpoints (gateway/api/routes/cases.py, reports.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from gateway.api.schemas import NodeOut, Title
from gateway.cases.calendar import Light
from gateway.cases.deadlines import STAGE_OF, CasePolicy
from gateway.cases.kpis import Figures
from gateway.cases.notice import masked_name, masked_phone
from gateway.store.records import Case, CaseEntry, CaseSource, CaseState, Satisfaction
from rules.model import Severity


class ReporterOut(BaseModel):
    person_id: str | None
    name: str | None
    phone: str | None = Field(description="masked unless you cover the case's place")


class CaseOut(BaseModel):
    id: int
    source: CaseSource
    category: str = Field(description="小类 id of the category file")
    major: str = Field(description="大类 id")
    title: Title
    severity: Severity
    state: CaseState
    stage: str | None = Field(
        description="whose clock runs: file, dispatch, accept, handle, verify"
    )
    light: Light | None = Field(description="the case against its handling deadline")
    stage_light: Light | None = Field(description="the stage in hand against its limit")
    location: list[NodeOut]
    place: str
    address: str | None
    lat: float | None
    lon: float | None
    description: str
    device_id: str | None
    reporter: ReporterOut
    reported_at: datetime
    filed_at: datetime | None
    dispatched_at: datetime | None
    accepted_at: datetime | None
    handled_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    due_at: datetime | None = Field(description="the handling deadline, extensions included")
    first_due_at: datetime | None
    stage_started_at: datetime | None
    stage_due_at: datetime | None
    escalation_level: int
    reminders: int
    dispatched_to: list[str]
    department: str | None
    handler: str | None
    handled_by: str | None
    verified_by: str | None
    reworks: int
    extensions: int
    extension_request: dict[str, str] | None
    reason: str | None
    satisfaction: Satisfaction | None
    callback_at: datetime | None
    alert_ids: list[int]
    is_overdue: bool = Field(description="the stage in hand is past its limit")
    allowed: list[str] = Field(description="the steps you may take on it now")

    @classmethod
    def of(
        cls,
        c: Case,
        policy: CasePolicy,
        now: datetime,
        *,
        allowed: tuple[str, ...] = (),
        is_insider: bool = True,
    ) -> CaseOut:
        r = c.reporter
        stage = STAGE_OF.get(c.state)
        stage_light = policy.stage_light(c, now)
        request = c.extension_request
        return cls(
            id=c.id,
            source=c.source,
            category=c.category,
            major=c.major,
            title=Title(zh=c.title_zh, en=c.title_en),
            severity=c.severity,
            state=c.state,
            stage=None if stage is None else stage.value,
            light=policy.case_light(c, now),
            stage_light=stage_light,
            location=[NodeOut.of(n) for n in c.location],
            place=c.place,
            address=c.address,
            lat=c.lat,
            lon=c.lon,
            description=c.description,
            device_id=c.device_id,
            reporter=ReporterOut(
                person_id=r.person_id,
                name=r.name if is_insider or r.person_id else masked_name(r.name),
                phone=r.phone if is_insider else masked_phone(r.phone),
            ),
            reported_at=c.reported_at,
            filed_at=c.filed_at,
            dispatched_at=c.dispatched_at,
            accepted_at=c.accepted_at,
            handled_at=c.handled_at,
            closed_at=c.closed_at,
            cancelled_at=c.cancelled_at,
            due_at=c.due_at,
            first_due_at=c.first_due_at,
            stage_started_at=c.stage_started_at,
            stage_due_at=c.stage_due_at,
            escalation_level=c.escalation_level,
            reminders=c.reminders,
            dispatched_to=list(c.dispatched_to),
            department=c.department,
            handler=c.handler,
            handled_by=c.handled_by,
            verified_by=c.verified_by,
            reworks=c.reworks,
            extensions=c.extensions,
            extension_request=None
            if request is None
            else {
                "by": request.by,
                "at": request.at.isoformat(),
                "limit": request.limit,
                "reason": request.reason,
            },
            reason=c.reason,
            satisfaction=c.satisfaction,
            callback_at=c.callback_at,
            alert_ids=list(c.alert_ids),
            is_overdue=stage_light == Light.RED,
            allowed=list(allowed),
        )


class PhotoOut(BaseModel):
    id: str
    url: str
    at: datetime
    by: str
    content_type: str
    size: int


class EntryOut(BaseModel):
    at: datetime
    action: str
    actor: str
    state: CaseState
    note: str | None
    photos: list[str]

    @classmethod
    def of(cls, e: CaseEntry) -> EntryOut:
        return cls(at=e.at, action=e.action, actor=e.actor, state=e.state, note=e.note,
                   photos=list(e.photos))  # fmt: skip


class CaseDetail(CaseOut):
    history: list[EntryOut]
    photos: list[PhotoOut]
    filing_standard: str | None = Field(description="立案标准 of its category")
    closure_standard: str | None = Field(description="结案标准 of its category")


class KpiOut(BaseModel):
    key: str
    name: str
    reported: int = Field(description="cases reported in the period")
    due: int = Field(description="cases whose handling deadline (as filed) fell in the period")
    deferred: int = Field(description="of those: on hold, or extended past the period's end")
    closed: int
    closed_on_time: int
    handled: int
    reworked: int
    extended: int
    cancelled: int
    open: int
    closure_rate: float | None = Field(description="closed ÷ (due - deferred)")
    on_time_rate: float | None = Field(description="closed on time ÷ (due - deferred)")
    rework_rate: float | None = Field(description="reworked ÷ handled (of the due cases)")
    extension_rate: float | None = Field(description="extended ÷ due")

    @classmethod
    def of(cls, f: Figures) -> KpiOut:
        return cls(
            key=f.key, name=f.name, reported=f.reported, due=f.due, deferred=f.deferred,
            closed=f.closed, closed_on_time=f.closed_on_time, handled=f.handled,
            reworked=f.reworked, extended=f.extended, cancelled=f.cancelled, open=f.open,
            closure_rate=f.closure_rate, on_time_rate=f.on_time_rate,
            rework_rate=f.rework_rate, extension_rate=f.extension_rate,
        )  # fmt: skip


class KpiReportOut(BaseModel):
    since: datetime
    until: datetime
    group: str
    groups: list[KpiOut]
    total: KpiOut


class CategoryOut(BaseModel):
    id: str
    major: str
    name: Title
    major_name: Title
    severity: Severity
    filing: str
    closure: str
    limits: dict[str, str]


class ResidentCaseOut(BaseModel):
    """What a resident sees of their own report: no names of the people handling it."""

    id: int
    title: Title
    state: CaseState
    place: str
    address: str | None
    description: str
    reported_at: datetime
    closed_at: datetime | None
    satisfaction: Satisfaction | None
    can_rate: bool
    timeline: list[dict[str, str]]
    photos: list[str]
