"""Departments (职能部门): where a case goes when it is not the grid's to handle, named
in a small file (`GRIDGATE_CASES__DEPARTMENTS_FILE`) and reached through the routing file
(`notify: [{department: sanitation}]`, docs/routing.md).

    departments:
      - id: sanitation
        name: 环卫所
        people: [hw-1, hw-2]         # people of the roster who take its cases
        channels: [sanitation-hook]  # and/or channels that get a copy (a webhook, a robot)

Checked at start: every person must be in the roster (`path:line: where: reason`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.places.roster import Roster
from sensors.errors import FileError, Problem
from sensors.yamlfile import line_of, load_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DepartmentSpec(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    name: str = Field(min_length=1, max_length=64)
    people: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _reaches_someone(self) -> DepartmentSpec:
        if not self.people and not self.channels:
            raise ValueError("a department names people or channels (or both)")
        return self


class DepartmentsFile(_Strict):
    departments: tuple[DepartmentSpec, ...]


@dataclass(frozen=True)
class Department:
    id: str
    name: str
    people: tuple[str, ...]
    channels: tuple[str, ...]


def load_departments(
    path: Path, roster: Roster, channels: Collection[str]
) -> Mapping[str, Department]:
    spec, lines = load_model(path, DepartmentsFile)
    problems: list[Problem] = []
    out: dict[str, Department] = {}
    for i, d in enumerate(spec.departments):
        if d.id in out:
            problems.append(
                Problem(line_of(lines, ("departments", i, "id")), d.id, "id is used twice")
            )
        for j, person in enumerate(d.people):
            if person not in roster.people:
                problems.append(
                    Problem(
                        line_of(lines, ("departments", i, "people", j)),
                        d.id,
                        f"{person!r} is not in the roster",
                    )
                )
        for j, channel in enumerate(d.channels):
            if channel not in channels:
                problems.append(
                    Problem(
                        line_of(lines, ("departments", i, "channels", j)),
                        d.id,
                        f"channel {channel!r} is not configured",
                    )
                )
        out[d.id] = Department(d.id, d.name, d.people, d.channels)
    if problems:
        raise FileError(path, problems)
    return out
