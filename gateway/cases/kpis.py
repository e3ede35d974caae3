"""Case KPIs as the city platforms compute them (docs/cases.md has the formulas and their
sources). Pure: cases and a period in, figures out.

For a period [since, until):

    due          cases (not cancelled) whose handling deadline as filed falls in the period
                 (应结案数)
    deferred     of those, on the hold list or extended beyond the period's end (缓办/挂账)
    closed       of the due cases, those closed before the period's end (结案数)
    on time      of those, handled by the deadline in force (extensions counted) (按期结案数)
    closure rate          closed ÷ (due - deferred)      (结案率)
    on-time closure rate  on time ÷ (due - deferred)     (按期结案率)
    rework rate           due cases sent back at least once ÷ due cases handled (返工率)
    extension rate        due cases with an approved extension ÷ due             (延期率)

plus the intake: cases reported in the period, by any grouping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gateway.places.site import Level
from gateway.store.records import Case, CaseState


class GroupBy(StrEnum):
    GRID = "grid"
    COMMUNITY = "community"
    STREET = "street"
    DISTRICT = "district"
    PERSON = "person"  # the handler
    CATEGORY = "category"  # 小类
    MAJOR = "major"  # 大类
    SOURCE = "source"


@dataclass(frozen=True)
class Figures:
    key: str
    name: str
    reported: int
    due: int
    deferred: int
    closed: int
    closed_on_time: int
    handled: int
    reworked: int
    extended: int
    cancelled: int
    open: int

    @property
    def base(self) -> int:
        return self.due - self.deferred

    def _rate(self, n: int, d: int) -> float | None:
        return round(n / d, 4) if d > 0 else None

    @property
    def closure_rate(self) -> float | None:
        return self._rate(self.closed, self.base)

    @property
    def on_time_rate(self) -> float | None:
        return self._rate(self.closed_on_time, self.base)

    @property
    def rework_rate(self) -> float | None:
        return self._rate(self.reworked, self.handled)

    @property
    def extension_rate(self) -> float | None:
        return self._rate(self.extended, self.due)


def _in(at: datetime | None, since: datetime, until: datetime) -> bool:
    return at is not None and since <= at < until


def is_due(case: Case, since: datetime, until: datetime) -> bool:
    return case.state != CaseState.CANCELLED and _in(case.first_due_at, since, until)


def is_deferred(case: Case, until: datetime) -> bool:
    if case.closed_at is not None and case.closed_at < until:
        return False
    if case.state == CaseState.ON_HOLD:
        return True
    return case.extensions > 0 and case.due_at is not None and case.due_at >= until


def is_on_time(case: Case) -> bool:
    return (
        case.closed_at is not None
        and case.handled_at is not None
        and case.due_at is not None
        and case.handled_at <= case.due_at
    )


def figures(cases: Iterable[Case], since: datetime, until: datetime, key: str = "*",
            name: str = "total") -> Figures:  # fmt: skip
    listed = list(cases)
    due = [c for c in listed if is_due(c, since, until)]
    deferred = [c for c in due if is_deferred(c, until)]
    closed = [c for c in due if c.closed_at is not None and c.closed_at < until]
    return Figures(
        key=key,
        name=name,
        reported=sum(1 for c in listed if _in(c.reported_at, since, until)),
        due=len(due),
        deferred=len(deferred),
        closed=len(closed),
        closed_on_time=sum(1 for c in closed if is_on_time(c)),
        handled=sum(1 for c in due if c.handled_at is not None),
        reworked=sum(1 for c in due if c.reworks > 0),
        extended=sum(1 for c in due if c.extensions > 0),
        cancelled=sum(
            1 for c in listed if c.state == CaseState.CANCELLED and _in(c.reported_at, since, until)
        ),
        open=sum(1 for c in listed if not c.is_final and c.reported_at < until),
    )


def group_key(
    group: GroupBy, names: Callable[[str], str] = str
) -> Callable[[Case], tuple[str, str]]:
    """A function giving a case's (key, name) under `group`."""
    if group in (GroupBy.GRID, GroupBy.COMMUNITY, GroupBy.STREET, GroupBy.DISTRICT):
        level = Level(group.value)

        def by_node(case: Case) -> tuple[str, str]:
            node = next((n for n in case.location if n.level == level), None)
            return ("-", "-") if node is None else (node.id, node.name)

        return by_node
    if group == GroupBy.PERSON:
        return lambda c: (c.handler or "-", names(c.handler) if c.handler else "-")
    if group == GroupBy.CATEGORY:
        return lambda c: (c.category, c.title_zh)
    if group == GroupBy.MAJOR:
        return lambda c: (c.major, c.major)
    return lambda c: (c.source.value, c.source.value)


def grouped(cases: Iterable[Case], group: GroupBy, since: datetime, until: datetime,
            names: Callable[[str], str] = str) -> list[Figures]:  # fmt: skip
    key_of = group_key(group, names)
    groups: dict[str, tuple[str, list[Case]]] = {}
    for case in cases:
        key, name = key_of(case)
        groups.setdefault(key, (name, []))[1].append(case)
    return [
        figures(members, since, until, key, name) for key, (name, members) in sorted(groups.items())
    ]
