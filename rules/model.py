"""What a rule file may say. See docs/rules.md for the language with examples.

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

Every rule has an id, the sensor kinds it reads (`kind: door`, a list, or `any` placed
kind), a severity, a title, and optionally a `scope`, a `message`, a `window` (the rule's
condition includes the wall clock), `quiet` hours (raising waits until they end) and
`reminder_s`, and a `deadline` that overrides the per-severity limits to acknowledge and
resolve (`deadline: {resolve_within_s: 1800}`). `when` picks the condition: held,
immediate, threshold, count, absence, inactivity, node_offline. Loading (one file or a
folder) lives in rules/load.py.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from rules.localtime import LocalTime
from rules.scope import Scope
from rules.templates import check_template
from sensors.kinds import KINDS, PLACED_KINDS, Kind

RuleId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Value = bool | int | float | str
Seconds = Annotated[float, Field(gt=0, le=31 * 86400)]


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    EMERGENCY = "emergency"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Title(_Strict):
    zh: str
    en: str


class Message(_Strict):
    """Templates naming the place in words; placeholders are listed in rules/templates.py."""

    zh: str
    en: str

    @field_validator("zh", "en")
    @classmethod
    def _known_placeholders(cls, text: str) -> str:
        return check_template(text)


class NightHold(_Strict):
    """A shorter (or longer) hold while the site's wall clock is inside [start, end)."""

    start: LocalTime
    end: LocalTime
    hold_s: float = Field(gt=0, le=7 * 86400)

    @model_validator(mode="after")
    def _not_empty(self) -> NightHold:
        if self.start == self.end:
            raise ValueError("night start and end are the same time")
        return self


class Window(_Strict):
    """Wall-clock hours [start, end) in the site's timezone; may wrap midnight."""

    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _not_empty(self) -> Window:
        if self.start == self.end:
            raise ValueError("start and end are the same time")
        return self


class Deadline(_Strict):
    """This rule's own time limits, overriding the per-severity defaults of the gateway:
    seconds after the raise to acknowledge it and to resolve it (on site). Either may be
    left out (the severity's default applies); at least one is given."""

    ack_within_s: float | None = Field(default=None, gt=0, le=30 * 86400)
    resolve_within_s: float | None = Field(default=None, gt=0, le=365 * 86400)

    @model_validator(mode="after")
    def _sensible(self) -> Deadline:
        if self.ack_within_s is None and self.resolve_within_s is None:
            raise ValueError("say ack_within_s, resolve_within_s or both")
        if (
            self.ack_within_s is not None
            and self.resolve_within_s is not None
            and self.ack_within_s > self.resolve_within_s
        ):
            raise ValueError("ack_within_s must not exceed resolve_within_s")
        return self


def _kinds_of(kind: Kind | tuple[Kind, ...] | Literal["any"]) -> tuple[Kind, ...]:
    if kind == "any":
        return PLACED_KINDS
    if isinstance(kind, Kind):
        return (kind,)
    return tuple(kind)


def _check_field(field: str, info: ValidationInfo) -> str:
    kind = info.data.get("kind")
    if kind is None:  # the kind itself was invalid; that error says so
        return field
    for one in _kinds_of(kind):
        spec = KINDS[one]
        if field not in spec.fields:
            known = ", ".join(spec.fields)
            raise ValueError(f"kind {one.value!r} has no field {field!r} ({known})")
    return field


class Test(_Strict):
    """One simple condition on one field of the reading: equals, above or below."""

    field: str
    equals: Value | None = None
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one_test(self) -> Test:
        if [self.equals, self.above, self.below].count(None) != 2:
            raise ValueError("say exactly one of equals, above, below")
        return self

    def matches(self, value: Value) -> bool:
        if self.equals is not None:
            return value == self.equals
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.above is not None:
            return value > self.above
        return self.below is not None and value < self.below


class _RuleBase(_Strict):
    id: RuleId
    kind: Kind | tuple[Kind, ...] | Literal["any"]
    severity: Severity = Severity.WARNING
    title: Title
    message: Message | None = None
    scope: Scope | None = None
    window: Window | None = None
    quiet: Window | None = None
    reminder_s: Seconds | None = None
    deadline: Deadline | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _known_kind(cls, kind: Any) -> Any:
        values = kind if isinstance(kind, list | tuple) else [kind]
        if kind == "any":
            return kind
        known = [k.value for k in KINDS]
        for value in values:
            if value not in known:
                raise ValueError(f"unknown sensor kind {value!r} (known: any, {', '.join(known)})")
        return tuple(values) if isinstance(kind, list | tuple) else kind

    @property
    def kinds(self) -> tuple[Kind, ...]:
        return _kinds_of(self.kind)

    @property
    def single_kind(self) -> Kind | None:
        return self.kind if isinstance(self.kind, Kind) else None


class _FieldRule(_RuleBase):
    """A condition on the reading: `field` + `equals`, or `all:` of simple tests."""

    field: str | None = None
    equals: Value = True
    all_: tuple[Test, ...] | None = Field(default=None, alias="all")

    _check_field = field_validator("field")(_check_field)

    @field_validator("all_")
    @classmethod
    def _fields_of_kind(cls, tests: tuple[Test, ...] | None, info: ValidationInfo) -> Any:
        for test in tests or ():
            _check_field(test.field, info)
        return tests

    @model_validator(mode="after")
    def _field_or_all(self) -> _FieldRule:
        if (self.field is None) == (self.all_ is None):
            raise ValueError("say either field (with equals) or all")
        return self

    def holds(self, fields: dict[str, Value]) -> bool | None:
        """Whether the condition holds on these fields; None when one is not reported."""
        if self.field is not None:
            value = fields.get(self.field)
            return None if value is None else value == self.equals
        result = True
        for test in self.all_ or ():
            value = fields.get(test.field)
            if value is None:
                return None
            result = result and test.matches(value)
        return result


class HeldRule(_FieldRule):
    """Raise when the condition has held for `hold_s` (or `night.hold_s` at night)."""

    when: Literal["held"]
    hold_s: float = Field(gt=0, le=7 * 86400)
    night: NightHold | None = None


class ImmediateRule(_FieldRule):
    """Raise as soon as the condition is reported."""

    when: Literal["immediate"]


class ThresholdRule(_RuleBase):
    """Raise when a value stays above (below) a limit for `hold_s`; clear only past
    `clear_below` (`clear_above`), so a value hovering at the limit does not flap."""

    when: Literal["threshold"]
    field: str
    above: float | None = None
    below: float | None = None
    clear_below: float | None = None
    clear_above: float | None = None
    hold_s: float = Field(default=0, ge=0, le=7 * 86400)

    _check_field = field_validator("field")(_check_field)

    @model_validator(mode="after")
    def _one_side(self) -> ThresholdRule:
        if (self.above is None) == (self.below is None):
            raise ValueError("say exactly one of above, below")
        if self.above is not None:
            if self.clear_above is not None:
                raise ValueError("a rule on `above` clears with clear_below")
            if self.clear_below is not None and self.clear_below > self.above:
                raise ValueError("clear_below must not exceed above")
        elif self.clear_below is not None:
            raise ValueError("a rule on `below` clears with clear_above")
        elif (
            self.clear_above is not None
            and self.below is not None
            and self.clear_above < self.below
        ):
            raise ValueError("clear_above must not be under below")
        return self

    def is_over(self, value: float) -> bool:
        return value > self.above if self.above is not None else value < (self.below or 0.0)

    def is_back(self, value: float) -> bool:
        if self.above is not None:
            return value < (self.clear_below if self.clear_below is not None else self.above)
        limit = self.clear_above if self.clear_above is not None else self.below
        return value > (limit or 0.0)


class CountRule(_RuleBase):
    """Raise when the field turned to `equals` more than `more_than` times in `window_s`
    (a door flapping); clear when the count in the window falls back."""

    when: Literal["count"]
    field: str
    equals: Value = True
    more_than: int = Field(ge=1, le=10_000)
    window_s: Seconds

    _check_field = field_validator("field")(_check_field)


class AbsenceRule(_RuleBase):
    """Raise when a device sent nothing at all for `silent_s` (offline); also at once on
    an availability reading `online: false` when `on_unavailable` is true. Without
    `silent_s`, each kind's own `offline_after_s` (sensors/kinds.py) applies."""

    when: Literal["absence"]
    kind: Kind | tuple[Kind, ...] | Literal["any"] = "any"
    silent_s: Seconds | None = None
    on_unavailable: bool = True

    def silent_for(self, kind: Kind | None) -> float | None:
        """Seconds of silence after which a device of `kind` is offline; None: not watched."""
        if self.silent_s is not None:
            return self.silent_s
        spec = KINDS.get(kind) if kind is not None else None
        return None if spec is None or spec.offline_after_s is None else spec.offline_after_s


class InactivityRule(_RuleBase):
    """Raise when the field has not turned to `equals` for `idle_s` (nobody opened the
    door for a day); heartbeats and other reports do not count as activity."""

    when: Literal["inactivity"]
    field: str
    equals: Value = True
    idle_s: Seconds

    _check_field = field_validator("field")(_check_field)


class NodeOfflineRule(_RuleBase):
    """One alert for a node (a building) whose devices went silent together under the
    absence rule `of`; their own offline alerts are marked inhibited."""

    when: Literal["node_offline"]
    kind: Kind | tuple[Kind, ...] | Literal["any"] = "any"
    of: RuleId
    level: Literal["district", "street", "community", "grid", "building", "unit"]
    share: float = Field(default=0.8, gt=0, le=1)
    min_devices: int = Field(default=2, ge=1)
    within_s: Seconds = 120


Rule = Annotated[
    HeldRule
    | ImmediateRule
    | ThresholdRule
    | CountRule
    | AbsenceRule
    | InactivityRule
    | NodeOfflineRule,
    Field(discriminator="when"),
]
AnyRule = (
    HeldRule | ImmediateRule | ThresholdRule | CountRule | AbsenceRule | InactivityRule
) | NodeOfflineRule

DEFAULT_MAX_LATENESS_S = 300.0


class RuleFile(_Strict):
    """A list of rules; windows read the wall clock in the site's timezone."""

    rules: list[Rule]
    # a reading whose event time is older than this (against the engine's `now`) is applied
    # as if it happened max_lateness_s ago: a wrong device clock cannot backdate alerts
    max_lateness_s: float = Field(default=DEFAULT_MAX_LATENESS_S, ge=0, le=86400)


# The shipped rules: a folder of files, one per theme (doors, hazards, health, care).
DEFAULT_RULES = Path(__file__).parent / "defaults"


def load_rules(path: Path) -> RuleFile:
    """Read a rule file or a folder of them; see rules/load.py (kept here for importers)."""
    from rules.load import load_rules as load  # here: load.py imports this module

    return load(path)
