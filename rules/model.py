"""What a rule file may say.

    rules:
      - id: door_left_open
        when: held                   # the condition holds for a duration
        kind: door
        field: open
        equals: true
        hold_s: 180                  # by day
        night: {start: "22:00", end: "06:00", hold_s: 30}
        severity: warning
        title: {zh: 门未关, en: Door left open}
      - id: smoke_detected
        when: immediate              # raise at once
        kind: smoke
        field: smoke
        equals: true
        severity: critical
        title: {zh: 烟雾报警, en: Smoke detected}

See docs/rules.md.
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from sensors.errors import FileError, Problem
from sensors.kinds import KINDS, Kind
from sensors.yamlfile import line_of, load_model

RuleId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    EMERGENCY = "emergency"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Title(_Strict):
    zh: str
    en: str


class NightHold(_Strict):
    """A shorter (or longer) hold while the site's wall clock is inside [start, end)."""

    start: time
    end: time
    hold_s: float = Field(gt=0, le=7 * 86400)

    @model_validator(mode="after")
    def _not_empty(self) -> NightHold:
        if self.start == self.end:
            raise ValueError("night start and end are the same time")
        return self


class _RuleBase(_Strict):
    id: RuleId
    kind: Kind
    field: str
    equals: bool | int | float | str = True
    severity: Severity = Severity.WARNING
    title: Title

    @field_validator("field")
    @classmethod
    def _field_of_kind(cls, field: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        if kind is None:  # the kind itself was invalid; that error says so
            return field
        spec = KINDS[kind]
        if field not in spec.fields:
            known = ", ".join(spec.fields)
            raise ValueError(f"kind {kind.value!r} has no field {field!r} ({known})")
        return field


class HeldRule(_RuleBase):
    """Raise when `field == equals` has held for `hold_s` (or `night.hold_s` at night)."""

    when: Literal["held"]
    hold_s: float = Field(gt=0, le=7 * 86400)
    night: NightHold | None = None


class ImmediateRule(_RuleBase):
    """Raise as soon as `field == equals` is reported."""

    when: Literal["immediate"]


Rule = Annotated[HeldRule | ImmediateRule, Field(discriminator="when")]


class RuleFile(_Strict):
    """A list of rules; night windows read the wall clock in the site's timezone."""

    rules: list[Rule]


DEFAULT_RULES = Path(__file__).parent / "defaults" / "basic.yaml"


def load_rules(path: Path) -> RuleFile:
    """Read and validate a rule file; raise FileError naming path and line."""
    spec, lines = load_model(path, RuleFile)
    seen: dict[str, int] = {}
    problems = []
    for i, rule in enumerate(spec.rules):
        if rule.id in seen:
            problems.append(
                Problem(
                    line_of(lines, ("rules", i, "id")),
                    f"rules[{i}]",
                    f"rule id {rule.id!r} is used twice",
                )
            )
        seen[rule.id] = i
    if problems:
        raise FileError(path, problems)
    return spec
