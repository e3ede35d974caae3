"""The case workflow as pure decisions: every step, who may take it, what an illegal step
says, deadlines entering each stage, sensor evidence, reminders and escalation."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.alerts.routes import CASE_EVENTS
from gateway.cases.calendar import Calendar, CalendarFile
from gateway.cases.categories import load_categories
from gateway.cases.deadlines import CasePolicy
from gateway.cases.timing import next_due_at, on_alert_cleared, on_alert_raised, on_time
from gateway.cases.workflow import (
    EVENTS,
    NEXT,
    SYSTEM,
    Act,
    Actor,
    Command,
    Draft,
    allowed,
    decide,
    dispatched,
    report,
)
from gateway.config import DEFAULT_SITE
from gateway.errors import CaseForbidden, CaseTransitionError, InvalidCase
from gateway.places.roster import Role
from gateway.places.site import load_site
from gateway.store.records import Case, CaseSource, CaseState, Reporter, Satisfaction
from tests.support import REPO

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 9, 9, 0, tzinfo=TZ)  # a Monday morning
SITE = load_site(DEFAULT_SITE)
CATEGORIES = load_categories(REPO / "tests" / "fixtures" / "categories.fast.yaml")
ALWAYS = Calendar.of(
    CalendarFile.model_validate({"week": {"mon-sun": [{"from": "00:00", "to": "23:59"}]}}), TZ
)
POLICY = CasePolicy(CATEGORIES, ALWAYS)
WORKER = Actor("w-g1-1", Role.GRID_WORKER)
OTHER = Actor("w-g1-2", Role.GRID_WORKER)
LEADER = Actor("gl-g1", Role.GRID_LEADER)
STRANGER = Actor("w-g9", Role.GRID_WORKER, covers=False)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def draft(source: CaseSource = CaseSource.PATROL, category: str = "exposed_rubbish") -> Draft:
    kind = CATEGORIES.get(category)
    assert kind is not None
    return Draft(
        source=source,
        category=kind,
        location=SITE.nodes["b1"],
        place="1号楼",
        description="垃圾",
        reporter=Reporter(person_id=WORKER.id),
    )


def dispatched_case() -> Case:
    filed = report(draft(), 1, WORKER, T0, POLICY).case
    return dispatched(filed, (WORKER.id, OTHER.id), None, T0, POLICY).case


def step(case: Case, act: Act, actor: Actor, minutes: float = 1, **kw: object) -> Case:
    return decide(case, Command(act, **kw), actor, at(minutes), POLICY).case  # type: ignore[arg-type]


def test_a_patrol_report_is_filed_at_once_and_asks_routing_for_its_handlers() -> None:
    change = report(draft(), 1, WORKER, T0, POLICY)
    assert change.case.state == CaseState.FILED
    assert change.needs_dispatch
    assert change.event == "case.filed"
    assert change.case.due_at == T0 + timedelta(minutes=30)  # dispatch + accept + handle
    assert change.case.stage_due_at == T0 + timedelta(minutes=10)


def test_a_residents_report_waits_for_the_check_on_site() -> None:
    change = report(draft(CaseSource.RESIDENT), 1, SYSTEM, T0, POLICY)
    assert change.case.state == CaseState.REPORTED
    assert not change.needs_dispatch
    assert change.case.due_at is None  # no handling deadline before it is filed
    filed = decide(change.case, Command(Act.FILE, category="other"), WORKER, at(5), POLICY)
    assert filed.case.state == CaseState.FILED
    assert filed.case.category == "other"
    assert filed.needs_dispatch


def test_the_whole_way_to_closure_and_the_callback() -> None:
    case = dispatched_case()
    case = step(case, Act.ACCEPT, WORKER)
    assert case.handler == WORKER.id
    case = step(case, Act.HANDLE, WORKER, note="已清运", photos=("p1",))
    assert case.state == CaseState.HANDLED
    case = step(case, Act.VERIFY, OTHER)
    assert case.state == CaseState.CLOSED
    assert case.verified_by == OTHER.id
    case = step(case, Act.CALLBACK, LEADER, satisfaction=Satisfaction.SATISFIED)
    assert case.satisfaction == Satisfaction.SATISFIED
    assert "callback" not in allowed(case)


def test_an_illegal_step_names_the_steps_the_state_allows() -> None:
    case = dispatched_case()
    with pytest.raises(CaseTransitionError) as caught:
        step(case, Act.HANDLE, WORKER)
    assert set(caught.value.allowed) == {
        "dispatch",
        "accept",
        "return",
        "hold",
        "cancel",
        "comment",
    }
    assert "cannot handle a case that is dispatched" in str(caught.value)


def test_the_handler_cannot_verify_their_own_work() -> None:
    case = step(step(dispatched_case(), Act.ACCEPT, WORKER), Act.HANDLE, WORKER, note="x")
    with pytest.raises(CaseForbidden, match="other than the handler"):
        step(case, Act.VERIFY, WORKER)
    with pytest.raises(CaseForbidden, match="other than the handler"):
        step(case, Act.REWORK, WORKER, note="x")


def test_a_failed_verification_goes_back_to_the_handler_with_a_fresh_limit() -> None:
    case = step(step(dispatched_case(), Act.ACCEPT, WORKER), Act.HANDLE, WORKER, 5, note="x")
    with pytest.raises(InvalidCase, match="reason"):
        step(case, Act.REWORK, LEADER)
    back = step(case, Act.REWORK, LEADER, 6, note="还有残留")
    assert back.state == CaseState.ACCEPTED
    assert back.reworks == 1
    assert back.stage_due_at == at(16)


def test_only_the_people_it_went_to_or_a_leader_accept_or_return_it() -> None:
    case = dispatched_case()
    with pytest.raises(CaseForbidden, match="dispatched to"):
        step(case, Act.ACCEPT, Actor("w-g1-3", Role.GRID_WORKER))
    assert step(case, Act.ACCEPT, LEADER).handler == LEADER.id
    with pytest.raises(InvalidCase, match="reason"):
        step(case, Act.RETURN, WORKER)
    returned = step(case, Act.RETURN, WORKER, note="不属于网格职责")
    assert returned.state == CaseState.RETURNED
    assert returned.reason == "不属于网格职责"
    with pytest.raises(CaseForbidden, match="grid leaders"):
        step(returned, Act.DISPATCH, WORKER, people=("x",))
    again = step(returned, Act.DISPATCH, LEADER, people=("hw-1",), department="sanitation")
    assert again.state == CaseState.DISPATCHED
    assert again.dispatched_to == ("hw-1",)


def test_an_extension_is_asked_by_the_handler_and_decided_by_a_leader() -> None:
    case = step(dispatched_case(), Act.ACCEPT, WORKER)
    with pytest.raises(InvalidCase, match="time limit"):
        step(case, Act.REQUEST_EXTENSION, WORKER, limit="soon")
    asked = step(case, Act.REQUEST_EXTENSION, WORKER, limit="2h natural", note="需要吊车")
    assert asked.extension_request is not None
    assert "request_extension" not in allowed(asked)
    with pytest.raises(CaseForbidden):
        step(asked, Act.APPROVE_EXTENSION, WORKER)
    granted = step(asked, Act.APPROVE_EXTENSION, LEADER)
    assert granted.due_at == case.due_at + timedelta(hours=2)  # type: ignore[operator]
    assert granted.extensions == 1
    assert granted.extension_request is None
    denied = step(asked, Act.DENY_EXTENSION, LEADER, note="今天必须完成")
    assert denied.extensions == 0


def test_hold_and_cancel_are_for_leaders_and_a_held_case_has_no_clock() -> None:
    case = dispatched_case()
    with pytest.raises(CaseForbidden):
        step(case, Act.HOLD, WORKER, note="x")
    held = step(case, Act.HOLD, LEADER, note="需区里协调")
    assert held.state == CaseState.ON_HOLD
    assert next_due_at(held) is None
    assert step(held, Act.CANCEL, LEADER, note="重复").state == CaseState.CANCELLED
    # a worker may cancel a resident's report the check on site did not confirm
    reported = report(draft(CaseSource.RESIDENT), 2, SYSTEM, T0, POLICY).case
    assert step(reported, Act.CANCEL, WORKER, note="现场无此问题").state == CaseState.CANCELLED


def test_outside_ones_grids_nothing_is_allowed() -> None:
    case = dispatched_case()
    with pytest.raises(CaseForbidden):
        step(case, Act.COMMENT, STRANGER, note="x")


def test_every_event_a_step_routes_out_is_one_the_routing_file_may_name() -> None:
    named = set(CASE_EVENTS)
    assert set(EVENTS.values()) | {"case.reported", "case.reminded", "case.escalated"} <= named


def test_every_state_has_a_way_out_but_the_final_ones() -> None:
    reachable = {s for moves in NEXT.values() for s in moves}
    assert reachable == set(CaseState)


def test_a_stage_is_reminded_at_80_percent_then_escalated_at_its_limit_and_again() -> None:
    case = dispatched_case()  # accept within 10 minutes
    assert next_due_at(case) == at(8)
    assert on_time(case, at(7), POLICY) is None
    reminded = on_time(case, at(8), POLICY)
    assert reminded is not None
    assert reminded.event == "case.reminded"
    escalated = on_time(reminded.case, at(10), POLICY)
    assert escalated is not None
    assert escalated.event == "case.escalated"
    assert escalated.case.escalation_level == 1
    assert escalated.case.escalate_at == at(20)  # one more limit for the next level


def test_a_sensor_case_closes_after_the_device_stays_normal_and_reopens_if_it_fails() -> None:
    filed = report(replace(draft(category="smoke"), source=CaseSource.SENSOR, alert_id=7,
                           device_id="smoke-b1-u1"), 1, SYSTEM, T0, POLICY).case  # fmt: skip
    case = dispatched(filed, (WORKER.id,), None, T0, POLICY).case
    case = step(step(case, Act.ACCEPT, WORKER), Act.HANDLE, WORKER, 2, note="复位")
    assert case.auto_verify_at is None  # the device is still in alarm
    cleared = on_alert_cleared(case, 7, at(3), at(3), POLICY).case
    assert cleared.auto_verify_at == at(3) + timedelta(seconds=3)
    again = on_alert_raised(cleared, 7, at(3.02), POLICY)
    assert again.case.state == CaseState.ACCEPTED  # back to the handler: rework
    assert again.case.reworks == 1
    assert again.event == "case.reworked"
    closed = on_time(cleared, at(3.1), POLICY)
    assert closed is not None
    assert closed.case.state == CaseState.CLOSED
    assert closed.case.verified_by == "sensors"


def test_a_working_time_case_reported_on_friday_evening_is_due_next_week(tmp_path: Path) -> None:
    week = Calendar.of(
        CalendarFile.model_validate({"week": {"mon-fri": [{"from": "09:00", "to": "17:00"}]}}), TZ
    )
    shipped = load_categories(REPO / "gateway" / "defaults" / "categories.yaml")
    policy = CasePolicy(shipped, week)
    friday = datetime(2026, 3, 13, 18, 0, tzinfo=TZ)
    kind = shipped.get("exposed_rubbish")
    assert kind is not None
    made = report(replace(draft(), category=kind), 1, WORKER, friday, policy).case
    # dispatch 30m + accept 1h + handle 4h of working time from Monday 09:00
    assert made.due_at == datetime(2026, 3, 16, 14, 30, tzinfo=TZ)
    assert policy.case_light(made, datetime(2026, 3, 15, 12, 0, tzinfo=TZ)) == "green"
