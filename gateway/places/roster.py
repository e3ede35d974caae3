"""People and duty: who covers which part of the hierarchy, when, and how to reach them.

A roster file (`GRIDGATE_ROSTER_FILE`, YAML) lists people:

    people:
      - id: w-g1-1
        name: 王芳
        role: grid_worker            # grid_worker, grid_leader, community, street, admin
        phone: "13800000001"
        nodes: [g1]                  # hierarchy node ids this person covers
        duty: [{days: mon-sun, from: "08:00", to: "20:00"}]   # site timezone; none = always
        channels: [sms, wecom]

Validated at start like every file (`path:line: where: reason`), and cross-checked against
the site: every node must exist.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from gateway.places.site import Site
from rules.localtime import LocalTime
from sensors.errors import FileError, Problem
from sensors.yamlfile import LazyLines, Loc, line_of, load_model

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Role(StrEnum):
    GRID_WORKER = "grid_worker"
    GRID_LEADER = "grid_leader"
    COMMUNITY = "community"
    STREET = "street"
    ADMIN = "admin"


# what routing calls a unit's residents where it names a person (an SMS's `who`): no
# person may take it, or their text and the residents' would be one
RESIDENTS = "residents"

# Who is told first, then next when nobody acts: the escalation ladder.
LADDER: tuple[Role, ...] = (Role.GRID_WORKER, Role.GRID_LEADER, Role.COMMUNITY, Role.STREET)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DutyWindow(_Strict):
    days: str = "mon-sun"
    start: LocalTime = Field(alias="from")
    end: LocalTime = Field(alias="to")

    @field_validator("days")
    @classmethod
    def _days(cls, value: str) -> str:
        expand_days(value)
        return value

    def covers(self, local: datetime) -> bool:
        day = DAYS[local.weekday()]
        t = local.time()
        if self.start <= self.end:
            return day in expand_days(self.days) and self.start <= t < self.end
        # overnight shift: belongs to the day it starts on
        if t >= self.start:
            return day in expand_days(self.days)
        yesterday = DAYS[(local.weekday() - 1) % 7]
        return t < self.end and yesterday in expand_days(self.days)


def expand_days(spec: str) -> frozenset[str]:
    out: set[str] = set()
    for part in spec.lower().split(","):
        part = part.strip()
        if "-" in part:
            first, last = (p.strip() for p in part.split("-", 1))
            if first not in DAYS or last not in DAYS:
                raise ValueError(f"days {spec!r}: use mon..sun, e.g. 'mon-fri' or 'sat,sun'")
            i, j = DAYS.index(first), DAYS.index(last)
            span = range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)]
            out.update(DAYS[k] for k in span)
        elif part in DAYS:
            out.add(part)
        else:
            raise ValueError(f"days {spec!r}: use mon..sun, e.g. 'mon-fri' or 'sat,sun'")
    return frozenset(out)


def _not_residents(value: str) -> str:
    if value == RESIDENTS:
        raise ValueError(
            f"{RESIDENTS!r} is what routing calls a unit's residents: choose another id"
        )
    return value


class PersonSpec(_Strict):
    id: Annotated[
        str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"), AfterValidator(_not_residents)
    ]
    name: str = Field(min_length=1, max_length=64)
    role: Role
    phone: Annotated[str, Field(pattern=r"^\+?[0-9]{5,15}$")] | None = None
    nodes: list[str] = []
    duty: list[DutyWindow] = []
    channels: list[str] = []


class RosterFile(_Strict):
    people: list[PersonSpec]

    @model_validator(mode="before")
    @classmethod
    def _plain_list(cls, data: object) -> object:
        """A file that is just the list of people is read as `people:`."""
        return {"people": data} if isinstance(data, list) else data


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    role: Role
    phone: str | None
    nodes: frozenset[str]
    duty: tuple[DutyWindow, ...]
    channels: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def covers(self, node_ids: Iterable[str]) -> bool:
        """Whether any node on the path is one this person is responsible for."""
        return self.is_admin or not self.nodes.isdisjoint(node_ids)

    def is_on_duty(self, at: datetime, tz: ZoneInfo) -> bool:
        if not self.duty:
            return True
        local = at.astimezone(tz)
        return any(window.covers(local) for window in self.duty)


class Roster:
    """The people: those of the roster file, plus those added through the API.

    API threads change it and the loop reads it: every change swaps in a new dict.
    """

    def __init__(self, people: dict[str, Person]) -> None:
        self._from_file = dict(people)
        self._people: dict[str, Person] = dict(people)
        self._lock = threading.Lock()

    @classmethod
    def empty(cls) -> Roster:
        return cls({})

    @property
    def people(self) -> dict[str, Person]:
        return self._people

    def is_from_file(self, person_id: str) -> bool:
        return person_id in self._from_file

    def put(self, person: Person) -> None:
        with self._lock:
            self._people = {**self._people, person.id: person}

    def remove(self, person_id: str) -> None:
        with self._lock:
            people = dict(self._people)
            people.pop(person_id, None)
            self._people = people

    def responders(self, path: tuple[str, ...], role: Role) -> list[Person]:
        """People of `role` who cover a node on `path`, deepest node first."""
        chosen = []
        people = self._people
        for node_id in reversed(path):
            for person in people.values():
                if person.role == role and node_id in person.nodes and person not in chosen:
                    chosen.append(person)
        return chosen


def masked_phone(phone: str) -> str:
    """A phone as logs, links and `routes test` show it: `139****0011`; a number of 7
    digits or fewer would show whole, so none of it shows."""
    return phone[:3] + "****" + phone[-4:] if len(phone) > 7 else "****"


def person_of(spec: PersonSpec, site: Site) -> Person:
    """A person from a checked spec; ValueError naming what is wrong."""
    unknown = [n for n in spec.nodes if n not in site.nodes]
    if unknown:
        raise ValueError(f"nodes not in the site file: {', '.join(unknown)}")
    if spec.role != Role.ADMIN and not spec.nodes:
        raise ValueError("covers no node: add `nodes`")
    return Person(
        spec.id,
        spec.name,
        spec.role,
        spec.phone,
        frozenset(spec.nodes),
        tuple(spec.duty),
        tuple(spec.channels),
    )


def load_roster(path: Path, site: Site) -> Roster:
    spec, lines = load_model(path, RosterFile)
    problems: list[Problem] = []
    people: dict[str, Person] = {}
    for i, p in enumerate(spec.people):
        if p.id in people:
            problems.append(_problem(lines, (i, "id"), p.id, "person id is used twice"))
            continue
        for j, node in enumerate(p.nodes):
            if node not in site.nodes:
                reason = f"node {node!r} is not in the site file"
                problems.append(_problem(lines, (i, "nodes", j), p.id, reason))
        if p.role != Role.ADMIN and not p.nodes:
            problems.append(_problem(lines, (i,), p.id, "covers no node: add `nodes`"))
        people[p.id] = Person(
            p.id, p.name, p.role, p.phone, frozenset(p.nodes), tuple(p.duty), tuple(p.channels)
        )
    if problems:
        raise FileError(path, problems)
    return Roster(people)


def check_channels(roster: Roster, path: Path, configured: Collection[str]) -> None:
    """Refuse a roster file whose people name a channel no setting defines (they would
    silently never be told); FileError at the line of each such name."""
    lines = LazyLines(path)  # read again only when something is wrong
    problems = []
    known = ", ".join(sorted(configured)) or "none"
    for i, person in enumerate(roster._from_file.values()):
        for j, wanted in enumerate(person.channels):
            if wanted not in configured:
                reason = (
                    f"channel {wanted!r} is not configured "
                    f"(GRIDGATE_CHANNELS and GRIDGATE_WEBHOOKS name: {known})"
                )
                problems.append(_problem(lines, (i, "channels", j), person.id, reason))
    if problems:
        raise FileError(path, problems)


def _problem(lines: Mapping[Loc, int], loc: Loc, person_id: str, reason: str) -> Problem:
    """A problem at `loc` of a person entry (its index first), under `people:` or in a
    file that is a plain list."""
    at = ("people", *loc) if ("people",) in lines else loc
    return Problem(line_of(lines, at), person_id, reason)
