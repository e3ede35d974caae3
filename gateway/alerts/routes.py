"""The routing file: who is told about an alert event, through which channel.

A tree of routes, read like Alertmanager's: the routes of a list are tried in order; the
first whose `match` fits the event decides, unless it says `continue: true`, then the
following ones are tried too. A route with child `routes` hands the event to them
(they only see what their parent matched); when none of its children fits, it notifies
its own receivers. A route without `notify` inherits its parent's.

    routes:
      - name: integrations
        match: {event: [raised, cleared]}
        notify: [{channels: [webhook]}]       # a channel by name, or every one of a type
        continue: true
      - name: residents
        match: {event: raised, rule: door_left_open}
        notify: [{residents: sms}]            # the unit's residents, by SMS
        continue: true
      - name: on duty
        match: {event: [raised, escalated, reminded]}
        notify: [{on_duty: ladder}]           # grid worker first, up the ladder

`match` keys (all given must fit): event, rule, kind, severity (one or a list),
min_severity, node (the alert's place is under one of these), time (local time window
in the site's timezone, with optional days), and for cases category and source.
Receivers (`notify`, one key each): channels, on_duty (ladder or one role), people (ids),
assignee, residents (an SMS channel), department (docs/cases.md). docs/routing.md has the
whole story; `gridgate routes test` shows a decision.

Case events (`case.dispatched`, ...) are routed only by routes whose `event` names them
(and their children): a route written for alerts never catches a case by accident.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from gateway.places.roster import DAYS, Roster, expand_days
from gateway.places.site import Site
from rules.localtime import LocalTime
from rules.model import Severity
from sensors.errors import FileError, Problem
from sensors.kinds import Kind
from sensors.yamlfile import Loc, line_of, load_model

DEFAULTS = Path(__file__).parent.parent / "defaults"
# with a roster, people on duty are told; without, the group channels get the alerts
DEFAULT_ROUTES = DEFAULTS / "routes.yaml"
DEFAULT_ROUTES_NO_ROSTER = DEFAULTS / "routes.no-roster.yaml"

EVENTS = (
    "raised",
    "cleared",
    "reminded",
    "escalated",
    "overdue",
    "acknowledged",
    "resolved",
    "closed",
    "assigned",
)
EventName = Literal[
    "raised",
    "cleared",
    "reminded",
    "escalated",
    "overdue",
    "acknowledged",
    "resolved",
    "closed",
    "assigned",
]
# the case side's events (gateway/cases/workflow.py): `case.<step>`; `case.dispatch` is not
# a message: the routes for it choose a filed case's handlers
CaseEventName = Literal[
    "case.reported",
    "case.filed",
    "case.dispatch",
    "case.dispatched",
    "case.accepted",
    "case.returned",
    "case.handled",
    "case.verified",
    "case.reworked",
    "case.extension_requested",
    "case.extension_approved",
    "case.extension_denied",
    "case.held",
    "case.cancelled",
    "case.called_back",
    "case.commented",
    "case.reminded",
    "case.escalated",
]
CASE_EVENTS: tuple[str, ...] = get_args(CaseEventName)
CASE_SOURCES = ("sensor", "patrol", "resident", "hotline", "upper")
SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}
KINDS = tuple(k.value for k in Kind)  # what `match: {kind}` may name: an alert's kind


def _as_list(value: Any) -> Any:
    """A single value where a list is expected: `event: raised` is `event: [raised]`."""
    return [value] if isinstance(value, str) else value


# an empty list would match nothing or tell nobody, silently: refused
OneOrMore = Annotated[tuple[str, ...], BeforeValidator(_as_list), Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TimeWindow(_Strict):
    """Local times [from, to) in the site's timezone; `from` after `to` runs over midnight."""

    start: LocalTime = Field(alias="from")
    end: LocalTime = Field(alias="to")
    days: str = "mon-sun"

    @model_validator(mode="after")
    def _valid(self) -> TimeWindow:
        expand_days(self.days)
        if self.start == self.end:
            raise ValueError("from and to are the same time")
        return self

    def covers(self, local: datetime) -> bool:
        days = expand_days(self.days)
        t = local.time()
        if self.start < self.end:
            return DAYS[local.weekday()] in days and self.start <= t < self.end
        if t >= self.start:
            return DAYS[local.weekday()] in days
        return t < self.end and DAYS[(local.weekday() - 1) % 7] in days


class Match(_Strict):
    event: (
        Annotated[
            tuple[EventName | CaseEventName, ...], BeforeValidator(_as_list), Field(min_length=1)
        ]
        | None
    ) = None
    rule: OneOrMore | None = None
    kind: OneOrMore | None = None
    severity: (
        Annotated[tuple[Severity, ...], BeforeValidator(_as_list), Field(min_length=1)] | None
    ) = None
    min_severity: Severity | None = None
    node: OneOrMore | None = None
    time: TimeWindow | None = None
    category: OneOrMore | None = None  # cases: a 小类 or 大类 id of the category file
    source: OneOrMore | None = None  # cases: sensor, patrol, resident, hotline, upper


class Notify(_Strict):
    channels: OneOrMore | None = None
    on_duty: Literal["ladder", "grid_worker", "grid_leader", "community", "street"] | None = None
    people: OneOrMore | None = None
    assignee: Literal[True] | None = None
    residents: str | None = None
    department: str | None = None

    @model_validator(mode="after")
    def _one_receiver(self) -> Notify:
        given = [k for k, v in self.model_dump(exclude_none=True).items() if v is not None]
        if len(given) != 1:
            raise ValueError(
                "say exactly one of channels, on_duty, people, assignee, residents, department"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class RouteSpec(_Strict):
    name: str = Field(min_length=1, max_length=80)
    match: Match = Match()
    notify: tuple[Notify, ...] = ()
    routes: tuple[RouteSpec, ...] = ()
    is_continued: bool = Field(False, alias="continue")


class RoutesFile(_Strict):
    routes: tuple[RouteSpec, ...]


@dataclass(frozen=True)
class EventFacts:
    """What a route can match on: one alert event."""

    event: str  # without the "alert." prefix; a case's with its "case." prefix
    rule_id: str
    kind: str
    severity: Severity
    node_ids: tuple[str, ...]
    at: datetime
    category: tuple[str, ...] = ()  # a case's 小类 and 大类
    source: str | None = None  # a case's source

    @property
    def is_case(self) -> bool:
        return self.event.startswith("case.")


def fits(match: Match, facts: EventFacts, tz: ZoneInfo, *, opted: bool = False) -> bool:
    """Whether `match` fits; a case event only where a route (this one or, `opted`, a
    parent) names it in `event`."""
    if match.event is not None and facts.event not in match.event:
        return False
    if facts.is_case and match.event is None and not opted:
        return False
    if match.category is not None and not set(match.category) & set(facts.category):
        return False
    if match.source is not None and facts.source not in match.source:
        return False
    if match.rule is not None and facts.rule_id not in match.rule:
        return False
    if match.kind is not None and facts.kind not in match.kind:
        return False
    if match.severity is not None and facts.severity not in match.severity:
        return False
    if (
        match.min_severity is not None
        and SEVERITY_ORDER[facts.severity] < SEVERITY_ORDER[match.min_severity]
    ):
        return False
    if match.node is not None and not set(match.node) & set(facts.node_ids):
        return False
    return match.time is None or match.time.covers(facts.at.astimezone(tz))


@dataclass(frozen=True)
class Decision:
    """A receiver chosen for an event, and the path of routes that chose it."""

    route: str  # "on duty" or "escalations / street" for a child route
    notify: Notify


def decide(
    routes: tuple[RouteSpec, ...], facts: EventFacts, tz: ZoneInfo, parents: str = "",
    inherited: tuple[Notify, ...] = (), *, opted: bool = False,
) -> list[Decision]:  # fmt: skip
    """The receivers the tree chooses for `facts`, in the order of the routes."""
    chosen: list[Decision] = []
    for route in routes:
        if not fits(route.match, facts, tz, opted=opted):
            continue
        path = f"{parents} / {route.name}" if parents else route.name
        own = route.notify or inherited
        below = decide(route.routes, facts, tz, path, own, opted=True) if route.routes else []
        chosen += below or [Decision(path, n) for n in own]
        if not route.is_continued:
            break
    return chosen


@dataclass(frozen=True)
class Routes:
    """A checked routing file."""

    path: Path
    tree: tuple[RouteSpec, ...]

    def decide(self, facts: EventFacts, tz: ZoneInfo) -> list[Decision]:
        return decide(self.tree, facts, tz)


@dataclass(frozen=True)
class Known:
    """What a routing file may name: checked at start and at every reload."""

    site: Site
    roster: Roster
    channels: Mapping[str, str]  # channel name -> type (webhooks included)
    rule_ids: Collection[str]
    departments: Collection[str] = ()
    categories: Collection[str] | None = None  # 小类 and 大类 ids (None: not checked)


def load_routes(path: Path, known: Known) -> Routes:
    """Read and cross-check a routing file; FileError with `path:line: where: reason`."""
    spec, lines = load_model(path, RoutesFile)
    problems: list[Problem] = []
    _check(spec.routes, ("routes",), known, lines, problems)
    if problems:
        raise FileError(path, problems)
    return Routes(path, spec.routes)


def _check(
    routes: tuple[RouteSpec, ...],
    at: Loc,
    known: Known,
    lines: Mapping[Loc, int],
    problems: list[Problem],
) -> None:
    types = set(known.channels.values()) | {"webhook", "sms", "wecom", "dingtalk", "mqtt"}

    def problem(loc: Loc, where: str, reason: str) -> None:
        problems.append(Problem(line_of(lines, loc), where, reason))

    for i, route in enumerate(routes):
        here = (*at, i)
        m = route.match
        # each name a match lists, the names it may be (None: not checked), why not
        listed: tuple[tuple[str, tuple[str, ...] | None, Collection[str] | None, str], ...] = (
            ("node", m.node, known.site.nodes, "node {!r} is not in the site"),
            ("kind", m.kind, KINDS, f"no sensor kind {{!r}} (kinds: {', '.join(KINDS)})"),
            ("rule", m.rule, known.rule_ids, "no rule {!r} is loaded"),
            ("category", m.category, known.categories,
             "no case category {!r} in the category file"),
            ("source", m.source, CASE_SOURCES,
             f"unknown case source {{!r}} (known: {', '.join(CASE_SOURCES)})"),
        )  # fmt: skip
        for key, values, allowed, reason in listed:
            for j, value in enumerate(values or ()):
                if allowed is not None and value not in allowed:
                    problem((*here, "match", key, j), route.name, reason.format(value))
        for j, notify in enumerate(route.notify):
            loc = (*here, "notify", j)
            for k, name in enumerate(notify.channels or ()):
                if known.channels.get(name, name) == "sms":
                    problem(
                        (*loc, "channels", k),
                        route.name,
                        f"{name!r} is an SMS channel: an SMS goes to one person or to residents "
                        f"(say on_duty, people or residents: {name})",
                    )
                elif name not in known.channels and name not in types:
                    named = ", ".join(sorted(known.channels)) or "none"
                    problem(
                        (*loc, "channels", k),
                        route.name,
                        f"no channel named {name!r} and no such channel type "
                        f"(configured channels: {named})",
                    )
            for k, person in enumerate(notify.people or ()):
                if person not in known.roster.people:
                    problem((*loc, "people", k), route.name, f"{person!r} is not in the roster")
            if notify.department is not None and notify.department not in known.departments:
                named = ", ".join(sorted(known.departments)) or "none"
                problem(
                    (*loc, "department"),
                    route.name,
                    f"no department {notify.department!r} (the departments file names: {named})",
                )
            if notify.residents is not None:
                kind = known.channels.get(notify.residents, notify.residents)
                if kind != "sms":
                    problem(
                        (*loc, "residents"),
                        route.name,
                        f"residents are told by SMS only: {notify.residents!r} is not an SMS "
                        "channel (their phone numbers never go to a webhook or a group chat)",
                    )
        _check(route.routes, (*here, "routes"), known, lines, problems)
