"""What happens to a case: a step by a person (or the system) in, the case as it becomes,
its history entry and the event to route out. Pure: values and the time in, values out;
the case stage (gateway/pipeline/casework.py) routes the event and writes the step.

    reported ─file (核实)─► filed ─dispatch─► dispatched ─accept─► accepted ─handle─► handled
                             ▲                   │                  ▲  │                │
                  dispatch ──┤ returned ◄─return─┴──────────────────┼──┘       verify ──┤
                             │ (退单)                     rework (返工) └──────────────────┤
                  on_hold ◄──┴─hold─ (filed, dispatched, accepted, returned)     closed ◄┘
    cancelled ◄─cancel─ (reported, filed, dispatched, returned, on_hold)   callback (回访)
    accepted: request_extension → approve_extension | deny_extension (延期, stays accepted)

Who may take each step is in `WHO`; a step the state does not allow raises
CaseTransitionError naming the steps it does allow (the API answers 409), a step the
person may not take raises CaseForbidden (403).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from gateway.cases.calendar import Limit
from gateway.cases.categories import Category
from gateway.cases.deadlines import CasePolicy, schedule_auto_verify
from gateway.errors import CaseForbidden, CaseTransitionError, InvalidCase
from gateway.places.roster import Role
from gateway.places.site import Node
from gateway.store.records import (
    Case,
    CaseEntry,
    CaseSource,
    CaseState,
    ExtensionRequest,
    Reporter,
    Satisfaction,
)


class Act(StrEnum):
    FILE = "file"  # 核实 on site: a resident's report is a case
    DISPATCH = "dispatch"  # 派遣 (again: 改派)
    ACCEPT = "accept"  # 接单
    RETURN = "return"  # 退单, with a reason
    HANDLE = "handle"  # 处置: what was done, with photos
    VERIFY = "verify"  # 核查 passed: closed
    REWORK = "rework"  # 核查 failed: back to the handler (返工)
    REQUEST_EXTENSION = "request_extension"  # 延期申请
    APPROVE_EXTENSION = "approve_extension"
    DENY_EXTENSION = "deny_extension"
    HOLD = "hold"  # 挂账
    CANCEL = "cancel"  # 作废
    CALLBACK = "callback"  # 回访: the reporter's satisfaction
    COMMENT = "comment"


class Who(StrEnum):
    ANYONE = "anyone"  # anybody covering the case's place
    LEADER = "leader"  # grid leaders and above (the supervisor, 监督员/指挥中心)
    ASSIGNEE = "assignee"  # the people it was dispatched to (leaders too)
    HANDLER = "handler"  # the person who accepted it (leaders too)
    NOT_HANDLER = "not_handler"  # anybody covering it but the person who handled it


_REP, _FIL, _DIS, _ACC = (
    CaseState.REPORTED,
    CaseState.FILED,
    CaseState.DISPATCHED,
    CaseState.ACCEPTED,
)
_HAN, _CLO, _RET = CaseState.HANDLED, CaseState.CLOSED, CaseState.RETURNED
_HOLD, _CAN = CaseState.ON_HOLD, CaseState.CANCELLED

NEXT: dict[Act, dict[CaseState, CaseState]] = {
    Act.FILE: {_REP: _FIL},
    Act.DISPATCH: {_FIL: _DIS, _RET: _DIS, _HOLD: _DIS, _DIS: _DIS},
    Act.ACCEPT: {_DIS: _ACC},
    Act.RETURN: {_DIS: _RET, _ACC: _RET},
    Act.HANDLE: {_ACC: _HAN},
    Act.VERIFY: {_HAN: _CLO},
    Act.REWORK: {_HAN: _ACC},
    Act.REQUEST_EXTENSION: {_ACC: _ACC},
    Act.APPROVE_EXTENSION: {_ACC: _ACC},
    Act.DENY_EXTENSION: {_ACC: _ACC},
    Act.HOLD: {_FIL: _HOLD, _DIS: _HOLD, _ACC: _HOLD, _RET: _HOLD},
    Act.CANCEL: {_REP: _CAN, _FIL: _CAN, _DIS: _CAN, _RET: _CAN, _HOLD: _CAN},
    Act.CALLBACK: {_CLO: _CLO},
    Act.COMMENT: {s: s for s in CaseState},
}

WHO: dict[Act, Who] = {
    Act.FILE: Who.ANYONE,
    Act.DISPATCH: Who.LEADER,
    Act.ACCEPT: Who.ASSIGNEE,
    Act.RETURN: Who.ASSIGNEE,
    Act.HANDLE: Who.HANDLER,
    Act.VERIFY: Who.NOT_HANDLER,
    Act.REWORK: Who.NOT_HANDLER,
    Act.REQUEST_EXTENSION: Who.HANDLER,
    Act.APPROVE_EXTENSION: Who.LEADER,
    Act.DENY_EXTENSION: Who.LEADER,
    Act.HOLD: Who.LEADER,
    Act.CANCEL: Who.LEADER,
    Act.CALLBACK: Who.ANYONE,
    Act.COMMENT: Who.ANYONE,
}

# the event each step routes out (`case.<step>`, docs/routing.md)
EVENTS: dict[Act, str] = {
    Act.FILE: "case.filed",
    Act.DISPATCH: "case.dispatched",
    Act.ACCEPT: "case.accepted",
    Act.RETURN: "case.returned",
    Act.HANDLE: "case.handled",
    Act.VERIFY: "case.verified",
    Act.REWORK: "case.reworked",
    Act.REQUEST_EXTENSION: "case.extension_requested",
    Act.APPROVE_EXTENSION: "case.extension_approved",
    Act.DENY_EXTENSION: "case.extension_denied",
    Act.HOLD: "case.held",
    Act.CANCEL: "case.cancelled",
    Act.CALLBACK: "case.called_back",
    Act.COMMENT: "case.commented",
}

_LEADERS = (Role.GRID_LEADER, Role.COMMUNITY, Role.STREET, Role.ADMIN)
LADDER_TOP = 3  # grid worker 0 → grid leader → community → street


@dataclass(frozen=True)
class Actor:
    """Who takes a step: a person (their role, and whether they cover the case's place),
    or the system (`role` None: routing, deadlines, a sensor)."""

    id: str
    role: Role | None
    covers: bool = True

    @property
    def is_system(self) -> bool:
        return self.role is None

    @property
    def is_leader(self) -> bool:
        return self.role in _LEADERS


SYSTEM = Actor("system", None)


@dataclass(frozen=True)
class Command:
    act: Act
    note: str | None = None
    photos: tuple[str, ...] = ()
    people: tuple[str, ...] = ()  # dispatch: to whom (else routing decides)
    department: str | None = None
    limit: str | None = None  # request_extension: how much more time ("4h", "1d")
    satisfaction: Satisfaction | None = None
    category: str | None = None  # file: the category the on-site check found


@dataclass(frozen=True)
class Change:
    """One decided change: the case as it becomes, its history entry, the event routing
    tells people about (None: nobody), and whether routing must now choose its handlers
    (a filed case: `case.dispatch`)."""

    case: Case
    entry: CaseEntry
    event: str | None
    needs_dispatch: bool = False


@dataclass(frozen=True)
class Draft:
    """A new case as reported, before it has an id."""

    source: CaseSource
    category: Category
    location: tuple[Node, ...]
    place: str
    description: str
    reporter: Reporter
    device_id: str | None = None
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    photos: tuple[str, ...] = ()
    alert_id: int | None = None


# ---- helpers ------------------------------------------------------------------------------


def allowed(case: Case) -> tuple[str, ...]:
    """The steps the case's state allows now (for anyone)."""
    out = []
    for act, moves in NEXT.items():
        if case.state not in moves:
            continue
        pending = case.extension_request is not None
        if act == Act.REQUEST_EXTENSION and pending:
            continue
        if act in (Act.APPROVE_EXTENSION, Act.DENY_EXTENSION) and not pending:
            continue
        if act == Act.CALLBACK and case.callback_at is not None:
            continue
        out.append(act.value)
    return tuple(out)


def may(case: Case, act: Act, actor: Actor) -> str | None:
    """None when `actor` may take `act` on `case`; otherwise why not."""
    if actor.is_system:
        return None
    if actor.role == Role.ADMIN:
        return None
    who = WHO[act]
    if act == Act.CANCEL and case.state == CaseState.REPORTED:
        who = Who.ANYONE  # the check on site (核实) did not confirm a resident's report
    assignees = set(case.dispatched_to)
    if who == Who.LEADER:
        if not actor.covers or not actor.is_leader:
            return f"{act.value} is for grid leaders and above"
        return None
    if who == Who.ASSIGNEE:
        if actor.id in assignees or (actor.is_leader and actor.covers):
            return None
        return f"{act.value} is for the people the case was dispatched to"
    if who == Who.HANDLER:
        if actor.id == case.handler or (actor.is_leader and actor.covers):
            return None
        return f"{act.value} is for the case's handler"
    if not actor.covers and actor.id not in assignees:
        return "the case is outside the nodes you cover"
    if who == Who.NOT_HANDLER and actor.id == case.handled_by:
        return "verification is by someone other than the handler (核查)"
    return None


def check(case: Case, act: Act, actor: Actor) -> None:
    """CaseTransitionError (naming the steps allowed) or CaseForbidden, unless `actor`
    may take `act` on `case` now."""
    can = allowed(case)
    if act.value not in can:
        raise CaseTransitionError(
            case.id, f"cannot {act.value} a case that is {case.state.value}", can
        )
    why = may(case, act, actor)
    if why is not None:
        raise CaseForbidden(case.id, why)


def allowed_for(case: Case, actor: Actor) -> tuple[str, ...]:
    return tuple(a for a in allowed(case) if may(case, Act(a), actor) is None)


def entry_of(case: Case, at: datetime, action: str, actor: str, note: str | None,
           photos: tuple[str, ...] = ()) -> CaseEntry:  # fmt: skip
    return CaseEntry(case.id, at, action, actor, case.state, note, photos)


# ---- a new case ----------------------------------------------------------------------------


def report(draft: Draft, new_id: int, actor: Actor, now: datetime, policy: CasePolicy) -> Change:
    """A new case: a resident's report waits for the on-site check (核实); any other
    source is filed at once and goes on to dispatch."""
    category = draft.category
    case = Case(
        id=new_id,
        source=draft.source,
        category=category.id,
        major=category.major,
        title_zh=category.name_zh,
        title_en=category.name_en,
        severity=category.severity,
        state=CaseState.REPORTED,
        location=draft.location,
        place=draft.place,
        description=draft.description,
        reporter=draft.reporter,
        reported_at=now,
        device_id=draft.device_id,
        address=draft.address,
        lat=draft.lat,
        lon=draft.lon,
        alert_ids=() if draft.alert_id is None else (draft.alert_id,),
    )
    if draft.source == CaseSource.RESIDENT:
        case = policy.enter(case, now)
        entry = entry_of(case, now, "report", actor.id, draft.description, draft.photos)
        return Change(case, entry, "case.reported")
    case = _filed(replace(case, state=CaseState.FILED), now, policy)
    entry = entry_of(case, now, "report", actor.id, draft.description, draft.photos)
    return Change(case, entry, "case.filed", needs_dispatch=True)


def _filed(case: Case, now: datetime, policy: CasePolicy) -> Case:
    due = policy.handling_due(case, now)
    return policy.enter(replace(case, filed_at=now, due_at=due, first_due_at=due), now)


# ---- what people do -------------------------------------------------------------------------


def decide(case: Case, command: Command, actor: Actor, now: datetime, policy: CasePolicy) -> Change:
    """One step on `case`; CaseTransitionError when its state does not allow it,
    CaseForbidden when `actor` may not, InvalidCase when the step lacks what it needs."""
    act = command.act
    check(case, act, actor)
    state = NEXT[act][case.state]
    note = command.note
    if act in (Act.RETURN, Act.HOLD, Act.CANCEL, Act.REWORK, Act.DENY_EXTENSION) and not note:
        raise InvalidCase(f"case {case.id}", f"{act.value} needs a reason (note)")
    if act == Act.HANDLE and not note:
        raise InvalidCase(f"case {case.id}", "handle needs a note saying what was done")
    changed = replace(case, state=state)
    needs_dispatch = False
    if act == Act.FILE:
        found = policy.categories.get(command.category or "")
        if found is not None:
            note = (note + " · " if note else "") + f"category: {found.id}"
            changed = replace(
                changed, category=found.id, major=found.major, title_zh=found.name_zh,
                title_en=found.name_en, severity=found.severity,
            )  # fmt: skip
        changed = _filed(changed, now, policy)
        needs_dispatch = True
    elif act == Act.DISPATCH:
        if not command.people:
            raise InvalidCase(f"case {case.id}", "dispatch names the people to send it to")
        changed = policy.enter(
            replace(
                changed,
                dispatched_at=now,
                dispatched_to=command.people,
                department=command.department,
                handler=None,
                extension_request=None,
                held_at=None,
            ),
            now,
        )
    elif act == Act.ACCEPT:
        # a first acceptance has what is left of the handling deadline filed with the case
        first = case.accepted_at is None and case.due_at is not None
        changed = policy.enter(
            replace(changed, accepted_at=now, handler=actor.id), now, case.due_at if first else None
        )
    elif act == Act.RETURN:
        changed = policy.enter(
            replace(changed, reason=note, handler=None, extension_request=None), now
        )
    elif act == Act.HANDLE:
        changed = policy.enter(
            replace(changed, handled_at=now, handled_by=actor.id, extension_request=None), now
        )
        changed = schedule_auto_verify(changed, now, policy)
    elif act == Act.VERIFY:
        changed = policy.enter(replace(changed, closed_at=now, verified_by=actor.id), now)
    elif act == Act.REWORK:
        changed = policy.enter(replace(changed, reworks=case.reworks + 1, auto_verify_at=None), now)
    elif act == Act.REQUEST_EXTENSION:
        wanted = command.limit or ""
        try:
            Limit.parse(wanted)
        except ValueError as exc:
            raise InvalidCase(f"case {case.id}", str(exc)) from exc
        changed = replace(
            changed, extension_request=ExtensionRequest(actor.id, now, wanted, note or "")
        )
        note = f"{wanted}: {note or ''}".rstrip(": ")
    elif act == Act.APPROVE_EXTENSION:
        request = case.extension_request
        assert request is not None  # noqa: S101  # allowed() checked it is pending
        more = Limit.parse(request.limit)
        due = policy.calendar.deadline(case.due_at or now, more)
        stage_due = policy.calendar.deadline(case.stage_due_at or now, more)
        changed = replace(
            changed,
            due_at=due,
            stage_due_at=stage_due,
            escalate_at=stage_due if case.escalate_at is not None else None,
            remind_at=None,
            extensions=case.extensions + 1,
            extension_request=None,
        )
        note = f"{request.limit}" + (f": {note}" if note else "")
    elif act == Act.DENY_EXTENSION:
        changed = replace(changed, extension_request=None)
    elif act == Act.HOLD:
        changed = policy.enter(replace(changed, held_at=now, reason=note), now)
    elif act == Act.CANCEL:
        changed = policy.enter(replace(changed, cancelled_at=now, reason=note), now)
    elif act == Act.CALLBACK:
        if command.satisfaction is None:
            raise InvalidCase(f"case {case.id}", "callback needs the reporter's satisfaction")
        changed = replace(
            changed, satisfaction=command.satisfaction, callback_at=now, callback_by=actor.id
        )
        note = command.satisfaction.value + (f": {note}" if note else "")
    entry = entry_of(changed, now, act.value, actor.id, note, command.photos)
    return Change(changed, entry, EVENTS[act], needs_dispatch=needs_dispatch)


def dispatched(case: Case, people: tuple[str, ...], department: str | None, now: datetime,
               policy: CasePolicy, routes: tuple[str, ...] = ()) -> Change:  # fmt: skip
    """Routing chose who a filed case goes to (`case.dispatch`)."""
    changed = policy.enter(
        replace(
            case,
            state=CaseState.DISPATCHED,
            dispatched_at=now,
            dispatched_to=people,
            department=department,
            handler=None,
        ),
        now,
    )
    note = ", ".join(people) + (f" ({department})" if department else "")
    if routes:
        note += " · " + "; ".join(routes)
    return Change(changed, entry_of(changed, now, "dispatch", "routing", note), "case.dispatched")


def undispatched(case: Case, now: datetime) -> CaseEntry:
    """Routing found nobody to dispatch a filed case to: it waits for a supervisor."""
    return entry_of(case, now, "dispatch_pending", "routing", "nobody on duty to dispatch to")
