"""The case stage over a real SQLite store: a sensor alert opens (or joins) a case in the
alert's own step, its clear is evidence; routing of case events is opt-in per route and
leaves the alerts' routing as it was; KPIs with the cities' denominators; the category
file's errors name their line."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.alerts.routes import Known, load_routes
from gateway.alerts.routing import ChannelRef, Router
from gateway.cases.calendar import Calendar, CalendarFile
from gateway.cases.categories import DEFAULT_CATEGORIES, load_categories
from gateway.cases.deadlines import CasePolicy
from gateway.cases.kpis import GroupBy, figures, grouped
from gateway.cases.workflow import Actor, Draft, report
from gateway.pipeline.casework import CaseStage
from gateway.places.departments import Department
from gateway.places.roster import load_roster
from gateway.places.site import load_site
from gateway.store import Store
from gateway.store.records import Case, CaseSource, CaseState, Reporter
from gateway.store.step import StepWrite
from rules.engine import EventType
from sensors.errors import FileError
from tests.support import REPO
from tests.unit.gateway.alertkit import TZ, at, item, stage

FIXTURES = REPO / "tests" / "fixtures"
SITE = load_site(FIXTURES / "site.two-grids.yaml")
ROSTER = load_roster(FIXTURES / "roster.cases.yaml", SITE)
CATEGORIES = load_categories(FIXTURES / "categories.fast.yaml")
ALWAYS = Calendar.of(
    CalendarFile.model_validate({"week": {"mon-sun": [{"from": "00:00", "to": "23:59"}]}}), TZ
)
REFS = [ChannelRef("webhook", "people-hook")]


def router() -> Router:
    ids = {c.id for c in CATEGORIES} | {c.major for c in CATEGORIES}
    rules = {"door_left_open", "smoke_detected"}
    known = Known(SITE, ROSTER, {"people-hook": "webhook"}, rules, categories=ids)
    return Router(
        routes=load_routes(REPO / "gateway" / "defaults" / "routes.yaml", known),
        channels=REFS,
        roster=ROSTER,
        tz=TZ,
    )


def stages(tmp_path: Path) -> tuple[Store, object, CaseStage]:
    store = Store(tmp_path / "g.db")
    alerts = stage(store)
    alerts._route = router()  # the roster's routing: people on duty are told
    cases = CaseStage(store=store, router=router(), policy=CasePolicy(CATEGORIES, ALWAYS))
    alerts.follow(cases)
    cases.load(alerts.delivery_ids)
    return store, alerts, cases


def test_a_smoke_alert_opens_a_dispatched_case_in_the_alerts_own_step(tmp_path: Path) -> None:
    store, alerts, _ = stages(tmp_path)
    write = StepWrite()
    raise_ = item(EventType.RAISED, at(1), "smoke-b1-u1", "smoke_detected", site=SITE)
    alerts.on_events(write, [raise_], at(1))  # type: ignore[attr-defined]
    [alert] = write.alerts.values()
    [case] = write.cases.values()
    assert case.source == CaseSource.SENSOR
    assert case.state == CaseState.DISPATCHED
    assert case.alert_ids == (alert.id,)
    assert sorted(case.dispatched_to) == ["w-g1", "w2-g1"]
    assert write.case_alerts == [(alert.id, case.id, at(1))]
    events = [d.event for d in write.deliveries]
    assert "alert.raised" in events
    # the alert's messages tell people; the shipped routing adds none for a sensor case
    assert not [e for e in events if e.startswith("case.")]
    store.write(write)  # one transaction: the alert, the case, their messages
    assert store.cases.case_of_alert(alert.id) == case.id

    cleared = StepWrite()
    alerts.on_events(  # type: ignore[attr-defined]
        cleared, [item(EventType.CLEARED, at(2), "smoke-b1-u1", "smoke_detected", site=SITE)], at(2)
    )
    [evidence] = cleared.cases.values()
    assert evidence.normal_since == at(2)
    assert evidence.state == CaseState.DISPATCHED  # a clear is evidence, not the closure
    store.write(cleared)
    assert [e.action for e in store.cases.history(case.id)] == ["report", "dispatch", "evidence"]


def test_a_rule_no_category_maps_opens_no_case(tmp_path: Path) -> None:
    _, alerts, _ = stages(tmp_path)
    write = StepWrite()
    alerts.on_events(write, [item(EventType.RAISED, at(1), "door-b1-u1", site=SITE)], at(1))  # type: ignore[attr-defined]
    assert write.alerts
    assert not write.cases


def test_case_events_reach_only_routes_that_name_them() -> None:
    routes = router()
    case = _case()
    sensor = replace(case, source=CaseSource.SENSOR)
    subject = CaseStage(store=None, router=routes, policy=CasePolicy(CATEGORIES, ALWAYS)).subject  # type: ignore[arg-type]
    entries = routes.route(subject(case, "case.handled", at(0)), at(0))
    # the grid leader verifies: the supervisors' route, plus the integrations' copy
    [entry] = entries
    assert entry.people == ("l-g1",)
    assert entry.routes == ("supervisors",)
    body = json.loads(json.dumps(entry.body))
    assert body["event"] == "case.handled"
    assert body["case"]["reporter"]["phone"] == "139****5678"
    # the alert routes above (no `event` of cases) never see a case event
    assert routes.decisions  # the alert side's own method is unchanged
    nobody = routes.route(subject(case, "case.commented", at(0)), at(0))
    assert nobody == []
    # a sensor case is told through its alert
    assert routes.route(subject(sensor, "case.handled", at(0)), at(0)) == []


def _case(**changes: object) -> Case:
    base = Case(
        id=1,
        source=CaseSource.RESIDENT,
        category="exposed_rubbish",
        major="environment",
        title_zh="暴露垃圾",
        title_en="Exposed rubbish",
        severity=CATEGORIES.by_id["exposed_rubbish"].severity,
        state=CaseState.HANDLED,
        location=SITE.nodes["b1"],
        place="1号楼",
        description="x",
        reporter=Reporter(name="张三", phone="13912345678"),
        reported_at=at(0),
        handler="w-g1",
        handled_by="w-g1",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_kpis_use_due_minus_deferred_as_the_denominator() -> None:
    since, until = at(0), at(0) + timedelta(days=30)
    due = at(0) + timedelta(days=1)
    closed_on_time = _case(state=CaseState.CLOSED, first_due_at=due, due_at=due,
                           handled_at=due - timedelta(hours=1), closed_at=due)  # fmt: skip
    late = due + timedelta(hours=1)
    closed_late = _case(id=2, state=CaseState.CLOSED, first_due_at=due, due_at=due, reworks=1,
                        handled_at=late, closed_at=late)  # fmt: skip
    held = _case(id=3, state=CaseState.ON_HOLD, first_due_at=due, due_at=due)
    extended = _case(id=4, state=CaseState.ACCEPTED, first_due_at=due, extensions=1,
                     due_at=until + timedelta(days=1))  # fmt: skip
    still_open = _case(id=5, state=CaseState.ACCEPTED, first_due_at=due, due_at=due,
                       handled_at=None)  # fmt: skip
    cancelled = _case(id=6, state=CaseState.CANCELLED, first_due_at=due)
    cases = [closed_on_time, closed_late, held, extended, still_open, cancelled]
    total = figures(cases, since, until)
    assert (total.due, total.deferred, total.closed, total.closed_on_time) == (5, 2, 2, 1)
    assert total.closure_rate == round(2 / 3, 4)
    assert total.on_time_rate == round(1 / 3, 4)
    assert total.extension_rate == round(1 / 5, 4)
    assert total.rework_rate == round(1 / 2, 4)  # two of the due cases were handled, one sent back
    [by_grid] = grouped(cases, GroupBy.GRID, since, until)
    assert by_grid.key == "g1"
    by_person = grouped(cases, GroupBy.PERSON, since, until, {"w-g1": "王芳"}.get)  # type: ignore[arg-type]
    assert by_person[0].name == "王芳"


def test_the_shipped_categories_load_and_a_bad_one_names_its_line(tmp_path: Path) -> None:
    shipped = load_categories(DEFAULT_CATEGORIES)
    assert shipped.by_rule["smoke_detected"].id == "smoke"
    assert str(shipped.by_id["exposed_rubbish"].limits["handle"]) == "4h"  # type: ignore[index]
    bad = tmp_path / "categories.yaml"
    bad.write_text(
        "defaults:\n  limits: {file: 1h, dispatch: 1h, accept: 1h, handle: 1h, verify: 1h}\n"
        "categories:\n  - id: a\n    name: {zh: 甲, en: A}\n    subcategories:\n"
        "      - id: b\n        name: {zh: 乙, en: B}\n        filing: x\n        closure: y\n"
        "        rules: [no_such_rule]\n",
        encoding="utf-8",
    )
    with pytest.raises(FileError) as caught:
        load_categories(bad, {"door_left_open"})
    assert f"{bad}:11: b: no rule 'no_such_rule' is loaded" in str(caught.value)
    bad.write_text(bad.read_text().replace("handle: 1h", "handle: soon"), encoding="utf-8")
    with pytest.raises(FileError, match=r":2: .*time limit 'soon'"):
        load_categories(bad)


def test_open_cases_and_their_deadlines_come_back_after_a_restart(tmp_path: Path) -> None:
    store, alerts, cases = stages(tmp_path)
    write = StepWrite()
    raise_ = item(EventType.RAISED, at(1), "smoke-b1-u1", "smoke_detected", site=SITE)
    alerts.on_events(write, [raise_], at(1))  # type: ignore[attr-defined]
    store.write(write)
    due = cases.next_due_at()
    assert due is not None
    store.close()
    again = Store(tmp_path / "g.db")
    restarted = CaseStage(store=again, router=router(), policy=CasePolicy(CATEGORIES, ALWAYS))
    restarted.load(stage(again).delivery_ids)
    assert len(restarted.book) == 1
    assert restarted.next_due_at() == due
    [case] = write.cases.values()
    assert restarted.book.open_for("smoke-b1-u1", "smoke") == again.cases.get(case.id)


def test_a_category_routed_to_a_department_is_dispatched_to_its_people_and_channel(
    tmp_path: Path,
) -> None:
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(
        "routes:\n"
        "  - name: sanitation takes rubbish\n"
        "    match: {event: case.dispatch, category: environment}\n"
        "    notify: [{department: sanitation}]\n"
        "  - name: handlers\n"
        "    match: {event: case.dispatched}\n"
        "    notify: [{assignee: true}]\n",
        encoding="utf-8",
    )
    departments = {"sanitation": Department("sanitation", "环卫所", ("c-c1",), ("city-hook",))}
    known = Known(SITE, ROSTER, {"people-hook": "webhook", "city-hook": "webhook"}, set(),
                  departments=departments.keys())  # fmt: skip
    routes = Router(
        routes=load_routes(routes_file, known),
        channels=[*REFS, ChannelRef("webhook", "city-hook")],
        roster=ROSTER,
        tz=TZ,
        departments=departments,
    )
    store = Store(tmp_path / "g.db")
    cases = CaseStage(store=store, router=routes, policy=CasePolicy(CATEGORIES, ALWAYS))
    cases.load(stage(store).delivery_ids)
    kind = CATEGORIES.by_id["exposed_rubbish"]
    draft = Draft(CaseSource.PATROL, kind, SITE.nodes["b1"], "1号楼", "垃圾", Reporter("w-g1"))
    write = StepWrite()
    case = cases.apply(write, report(draft, 1, Actor("w-g1", None), at(0), cases.policy), at(0))
    assert case.state == CaseState.DISPATCHED
    assert case.department == "sanitation"
    assert case.dispatched_to == ("c-c1",)
    targets = sorted(d.target for d in write.deliveries if d.event == "case.dispatched")
    assert targets == ["city-hook", "people-hook"]  # the department's channel, its person
    bad = tmp_path / "bad.yaml"
    bad.write_text(routes_file.read_text().replace("sanitation}", "nobody}"), encoding="utf-8")
    with pytest.raises(FileError, match=r":4: .*no department 'nobody'"):
        load_routes(bad, known)
