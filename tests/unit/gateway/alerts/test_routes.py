"""The routing file on its own (gateway/alerts/routes.py): which routes a given event
reaches (place, kind, rule, severity, local time window, children, first match,
`continue`, a catch-all last route), and the files it refuses, each at its line.

Times are instants made here and read in the site's timezone passed in: no test reads the
machine's clock or timezone."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from gateway.alerts.routes import EventFacts, Known, RoutesFile, RouteSpec, decide, load_routes
from gateway.places.roster import Person, Role, Roster
from gateway.places.site import load_site
from rules.model import Severity
from sensors.errors import FileError

REPO = Path(__file__).resolve().parents[4]
SITE = load_site(REPO / "tests" / "fixtures" / "site.two-grids.yaml")  # c1 → g1, g2
TZ = ZoneInfo("Asia/Shanghai")
DOOR_G1 = tuple(n.id for n in SITE.nodes["b1-u1"])  # d1 / s1 / c1 / g1 / b1 / b1-u1
DOOR_G2 = tuple(n.id for n in SITE.nodes["b2-u1"])  # ... / c1 / g2 / b2 / b2-u1
TUESDAY_10H = datetime(2026, 12, 1, 10, 0, tzinfo=TZ)


def local(day: int, hh_mm: str) -> datetime:
    """An instant of December 2026 at a Shanghai wall-clock time (the 4th is a Friday)."""
    hour, minute = (int(p) for p in hh_mm.split(":"))
    return datetime(2026, 12, day, hour, minute, tzinfo=TZ)


def tree(text: str) -> tuple[RouteSpec, ...]:
    return RoutesFile.model_validate(yaml.safe_load(textwrap.dedent(text))).routes


def facts(
    event: str = "raised",
    rule: str = "door_left_open",
    kind: str = "door",
    severity: Severity = Severity.WARNING,
    node_ids: tuple[str, ...] = DOOR_G1,
    at: datetime = TUESDAY_10H,
) -> EventFacts:
    return EventFacts(event, rule, kind, severity, node_ids, at)


def chosen(routes: tuple[RouteSpec, ...], event: EventFacts) -> list[str]:
    """The routes that decide, one entry per receiver (`parent / child` for a child)."""
    return [d.route for d in decide(routes, event, TZ)]


def lift(
    event: str = "raised", at: datetime = TUESDAY_10H, node_ids: tuple[str, ...] = DOOR_G1
) -> EventFacts:
    """Passengers trapped: a critical lift alert."""
    return facts(event, "lift_trapped", "lift", Severity.CRITICAL, node_ids, at)


def one_route(match: str) -> tuple[RouteSpec, ...]:
    return tree(f"routes: [{{name: it, match: {match}, notify: [{{channels: [ops]}}]}}]")


def fits(match: str, event: EventFacts) -> bool:
    return chosen(one_route(match), event) == ["it"]


# ---- what a route matches --------------------------------------------------------------


@pytest.mark.parametrize("node", ["d1", "s1", "c1", "g1", "b1", "b1-u1"])
def test_a_route_for_a_node_matches_alerts_anywhere_below_it(node: str) -> None:
    assert fits(f"{{node: {node}}}", facts(node_ids=DOOR_G1))


def test_a_route_for_one_grid_does_not_match_the_neighbouring_grid() -> None:
    assert fits("{node: g1}", facts(node_ids=DOOR_G1))
    assert not fits("{node: g1}", facts(node_ids=DOOR_G2))
    assert fits("{node: [g1, g2]}", facts(node_ids=DOOR_G2))  # a list is "any of"


def test_kind_rule_and_event_match_one_or_any_of_a_list() -> None:
    smoke = facts(rule="smoke_detected", kind="smoke")
    assert fits("{kind: smoke}", smoke)
    assert not fits("{kind: door}", smoke)
    assert fits("{rule: [door_left_open, smoke_detected]}", smoke)
    assert not fits("{rule: door_left_open}", smoke)
    assert fits("{event: [raised, escalated]}", facts(event="escalated"))
    assert not fits("{event: raised}", facts(event="cleared"))


@pytest.mark.parametrize(
    ("severity", "fits_critical_list", "fits_at_least_critical"),
    [
        (Severity.INFO, False, False),
        (Severity.WARNING, False, False),
        (Severity.CRITICAL, True, True),
        (Severity.EMERGENCY, False, True),
    ],
)
def test_severity_is_one_of_a_list_and_min_severity_is_at_least(
    severity: Severity, fits_critical_list: bool, fits_at_least_critical: bool
) -> None:
    assert fits("{severity: [critical]}", facts(severity=severity)) is fits_critical_list
    assert fits("{min_severity: critical}", facts(severity=severity)) is fits_at_least_critical


def test_every_key_given_must_fit() -> None:
    match = "{kind: lift, min_severity: critical, node: g1}"
    assert fits(match, lift())
    assert not fits(match, lift(node_ids=DOOR_G2))
    assert not fits(match, facts(rule="lift_trapped", kind="lift", severity=Severity.WARNING))
    assert not fits(match, facts(rule="lift_trapped", kind="door", severity=Severity.CRITICAL))


def test_an_empty_match_fits_every_alert_event() -> None:
    assert fits("{}", facts(event="closed", rule="battery_low", kind="smoke"))


# ---- time windows, in the site's timezone -----------------------------------------------


@pytest.mark.parametrize(
    ("at", "is_inside"),
    [
        (local(1, "07:59"), False),
        (local(1, "08:00"), True),  # `from` is inside
        (local(1, "17:59"), True),
        (local(1, "18:00"), False),  # `to` is not
    ],
)
def test_a_daytime_window_is_from_inclusive_to_exclusive(at: datetime, is_inside: bool) -> None:
    assert fits('{time: {from: "08:00", to: "18:00"}}', facts(at=at)) is is_inside


@pytest.mark.parametrize(
    ("at", "is_inside"),
    [
        (local(1, "21:59"), False),
        (local(1, "22:00"), True),
        (local(1, "23:59"), True),
        (local(2, "00:00"), True),
        (local(2, "06:59"), True),
        (local(2, "07:00"), False),
        (local(2, "12:00"), False),
    ],
)
def test_a_window_from_after_to_runs_over_midnight(at: datetime, is_inside: bool) -> None:
    assert fits('{time: {from: "22:00", to: "07:00"}}', facts(at=at)) is is_inside


@pytest.mark.parametrize(
    ("at", "is_inside"),
    [
        (local(4, "23:00"), True),  # Friday night
        (local(5, "03:00"), True),  # Saturday early: still Friday's night
        (local(4, "03:00"), False),  # Friday early: Thursday's night, not listed
        (local(5, "23:00"), False),  # Saturday night
    ],
)
def test_a_night_window_belongs_to_the_day_it_starts_on(at: datetime, is_inside: bool) -> None:
    match = '{time: {from: "22:00", to: "07:00", days: fri}}'
    assert fits(match, facts(at=at)) is is_inside


def test_weekdays_only() -> None:
    match = '{time: {from: "08:00", to: "18:00", days: mon-fri}}'
    assert fits(match, facts(at=local(4, "10:00")))  # Friday
    assert not fits(match, facts(at=local(5, "10:00")))  # Saturday


def test_a_window_reads_the_site_timezone_not_the_instants() -> None:
    # 15:30 UTC is 23:30 in Shanghai: inside the night window there, outside it in UTC
    instant = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
    routes = one_route('{time: {from: "22:00", to: "07:00"}}')
    assert [d.route for d in decide(routes, facts(at=instant), TZ)] == ["it"]
    assert decide(routes, facts(at=instant), ZoneInfo("UTC")) == []


# ---- the tree: first match, continue, children, a catch-all ------------------------------

LADDER_TREE = """
routes:
  - name: integrations
    match: {event: [raised, cleared]}
    notify: [{channels: [ops]}]
    continue: true
  - name: lifts
    match: {kind: lift, min_severity: critical}
    notify: [{people: [w-g1]}, {channels: [robot]}]
    routes:
      - name: at night
        match: {time: {from: "22:00", to: "07:00"}}
        notify: [{on_duty: community}]
      - name: grid 2
        match: {node: g2}
  - name: on duty
    match: {event: [raised, escalated, reminded]}
    notify: [{on_duty: ladder}]
  - name: everything else
    notify: [{channels: [archive]}]
"""


def test_the_first_route_that_fits_decides() -> None:
    # a lift alert fits "lifts" and "on duty": only "lifts" decides
    assert chosen(tree(LADDER_TREE), lift("escalated")) == ["lifts", "lifts"]


def test_continue_lets_the_routes_below_be_tried_too() -> None:
    assert chosen(tree(LADDER_TREE), lift("raised")) == ["integrations", "lifts", "lifts"]
    door = facts("raised")
    assert chosen(tree(LADDER_TREE), door) == ["integrations", "on duty"]


def test_a_last_route_without_match_catches_what_nothing_above_took() -> None:
    assert chosen(tree(LADDER_TREE), facts("acknowledged")) == ["everything else"]
    # not when a route above decided without `continue`
    assert "everything else" not in chosen(tree(LADDER_TREE), facts("escalated"))


def test_a_child_that_fits_decides_instead_of_its_parent() -> None:
    night = lift("escalated", at=local(1, "23:00"))
    [decision] = decide(tree(LADDER_TREE), night, TZ)
    assert decision.route == "lifts / at night"
    assert decision.notify.on_duty == "community"


def test_when_no_child_fits_the_parent_notifies_its_own_receivers() -> None:
    receivers = [d.notify for d in decide(tree(LADDER_TREE), lift("escalated"), TZ)]
    assert [r.people or r.channels for r in receivers] == [("w-g1",), ("robot",)]


def test_a_child_without_notify_inherits_its_parents_receivers() -> None:
    in_g2 = decide(tree(LADDER_TREE), lift("escalated", node_ids=DOOR_G2), TZ)
    assert [d.route for d in in_g2] == ["lifts / grid 2", "lifts / grid 2"]
    assert [d.notify.people or d.notify.channels for d in in_g2] == [("w-g1",), ("robot",)]


def test_a_child_only_sees_what_its_parent_matched() -> None:
    # a door at night fits the child's window but not the parent's kind
    door_at_night = facts("escalated", at=local(1, "23:00"))
    assert chosen(tree(LADDER_TREE), door_at_night) == ["on duty"]


def test_routes_for_alerts_never_catch_a_case_event() -> None:
    case = facts("case.filed")
    assert chosen(tree(LADDER_TREE), case) == []
    opted = tree("routes: [{name: cases, match: {event: case.filed}, "
                 "notify: [{channels: [ops]}], routes: [{name: any, match: {}}]}]")  # fmt: skip
    assert chosen(opted, case) == ["cases / any"]  # a child of a route that names it does


# ---- files refused, at the line of the mistake -------------------------------------------

KNOWN = Known(
    site=SITE,
    roster=Roster(
        {"w-g1": Person("w-g1", "王芳", Role.GRID_WORKER, None, frozenset({"g1"}), (), ())}
    ),
    channels={"ops": "webhook", "robot": "wecom", "text": "sms"},
    rule_ids={"door_left_open", "lift_trapped"},
)

# Each file is valid but for the line marked `# <-`: the error names that line.
BAD_FILES = {
    "a typo in a route's key": """
        routes:
          - name: doors
            match: {kind: door}
            contine: true  # <-
    """,
    "a typo in a match key": """
        routes:
          - name: doors
            match:
              kind: door
              severity_min: critical  # <-
    """,
    "an unknown channel name": """
        routes:
          - name: doors
            notify:
              - channels: [ops]
              - channels: [robot, opps]  # <-
    """,
    "an unknown role": """
        routes:
          - name: doors
            notify:
              - on_duty: grid_leeder  # <-
    """,
    "admin is not on a duty ladder": """
        routes:
          - name: doors
            notify: [{on_duty: admin}]  # <-
    """,
    "an unknown person": """
        routes:
          - name: doors
            notify:
              - people: [w-g1, w-g9]  # <-
    """,
    "an unknown rule id": """
        routes:
          - name: doors
            match:
              rule: [door_left_open,
                     door_left_opn]  # <-
    """,
    "an unknown node id": """
        routes:
          - name: lifts
            match: {kind: lift}
            routes:
              - name: grid 3
                match: {node: g3}  # <-
    """,
    "an unknown kind (a typo: the route would never match)": """
        routes:
          - name: lifts
            match:
              kind: [door, lfit]  # <-
    """,
    "a plain copy to SMS (an SMS goes to a person or residents)": """
        routes:
          - name: doors
            notify:
              - channels: [ops, text]  # <-
    """,
    "an empty list of rules (it would match nothing)": """
        routes:
          - name: doors
            match: {kind: door, rule: []}  # <-
    """,
    "an empty list of channels (it would tell nobody)": """
        routes:
          - name: doors
            notify:
              - channels: []  # <-
    """,
    "an unknown event": """
        routes:
          - name: doors
            match: {event: raise}  # <-
    """,
    "a time that is no time": """
        routes:
          - name: nights
            match:
              time:
                from: "25:00"  # <-
                to: "07:00"
    """,
    "a time without quotes (YAML 1.1 reads 22:00 as 1320)": """
        routes:
          - name: nights
            match:
              time: {from: 22:00, to: "07:00"}  # <-
    """,
    "a time with an offset (the window is the site's local time)": """
        routes:
          - name: nights
            match:
              time: {from: "22:00+08:00", to: "07:00"}  # <-
    """,
    "a window from and to the same time": """
        routes:
          - name: nights
            match:
              time: {from: "22:00", to: "22:00"}  # <-
    """,
    "a window on days that do not exist": """
        routes:
          - name: nights
            match:
              time: {from: "22:00", to: "07:00", days: mon-fry}  # <-
    """,
    "a window without its end": """
        routes:
          - name: nights
            match:
              time: {from: "22:00"}  # <-
    """,
    "continue that is not yes or no": """
        routes:
          - name: doors
            continue: maybe  # <-
    """,
    "notify as a mapping, not a list": """
        routes:
          - name: doors
            notify:  # <-
              channels: [ops]
    """,
    "a severity that does not exist": """
        routes:
          - name: doors
            match: {min_severity: high}  # <-
    """,
    "two receivers in one item": """
        routes:
          - name: doors
            notify:
              - {channels: [ops], people: [w-g1]}  # <-
    """,
    "residents sent to a webhook": """
        routes:
          - name: residents
            notify:
              - residents: ops  # <-
    """,
    "a route without a name": """
        routes:
          - match: {kind: door}  # <-
            notify: [{channels: [ops]}]
    """,
}

REASONS = {
    "a typo in a route's key": "contine: Extra inputs are not permitted",
    "a typo in a match key": "severity_min: Extra inputs are not permitted",
    "an unknown channel name": "doors: no channel named 'opps' and no such channel type",
    "an unknown role": "on_duty: Input should be 'ladder', 'grid_worker'",
    "admin is not on a duty ladder": "on_duty: Input should be 'ladder'",
    "an unknown person": "doors: 'w-g9' is not in the roster",
    "an unknown rule id": "doors: no rule 'door_left_opn' is loaded",
    "an unknown node id": "grid 3: node 'g3' is not in the site",
    "an unknown kind (a typo: the route would never match)": "lifts: no sensor kind 'lfit' "
    "(kinds: door, smoke, gas,",
    "a plain copy to SMS (an SMS goes to a person or residents)": "doors: 'text' is an SMS "
    "channel: an SMS goes to one person or to residents",
    "an empty list of rules (it would match nothing)": "match.rule: Value should have at least "
    "1 item",
    "an empty list of channels (it would tell nobody)": "channels: Value should have at least 1 "
    "item",
    "an unknown event": "match.event: Input should be 'raised', 'cleared'",
    "a time that is no time": "time.from: Input should be in a valid time format",
    "a time without quotes (YAML 1.1 reads 22:00 as 1320)": "time.from: Value error, write "
    'the time in quotes ("22:00")',
    "a time with an offset (the window is the site's local time)": "time.from: Value error, "
    "a local time in the site's timezone, without an offset",
    "a window from and to the same time": "time: Value error, from and to are the same time",
    "a window on days that do not exist": "time: Value error, days 'mon-fry': use mon..sun",
    "a window without its end": "time.to: Field required",
    "continue that is not yes or no": "continue: Input should be a valid boolean",
    "notify as a mapping, not a list": "notify: Input should be a valid tuple",
    "a severity that does not exist": "min_severity: Input should be 'info'",
    "two receivers in one item": "say exactly one of channels, on_duty, people, assignee, "
    "residents, department (got channels, people)",
    "residents sent to a webhook": "residents: residents are told by SMS only: 'ops' is not an "
    "SMS channel",
    "a route without a name": "name: Field required",
}


@pytest.mark.parametrize("mistake", BAD_FILES)
def test_a_bad_file_is_refused_at_the_line_of_the_mistake(mistake: str, tmp_path: Path) -> None:
    text = textwrap.dedent(BAD_FILES[mistake]).lstrip("\n")
    [line] = [n for n, s in enumerate(text.splitlines(), 1) if s.endswith("# <-")]
    path = tmp_path / "routes.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FileError) as refused:
        load_routes(path, KNOWN)
    problems = str(refused.value).splitlines()  # an event: one per list of known names
    assert all(p.startswith(f"{path}:{line}: ") for p in problems), problems
    assert any(REASONS[mistake] in p for p in problems), problems


def test_every_problem_of_a_file_is_named_at_once(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        "routes:\n"
        "  - name: a\n"
        "    match: {rule: nope, node: nowhere}\n"
        "    notify: [{channels: [nothing]}, {people: [nobody]}]\n",
        encoding="utf-8",
    )
    with pytest.raises(FileError) as refused:
        load_routes(path, KNOWN)
    assert [p.line for p in refused.value.problems] == [3, 3, 4, 4]
