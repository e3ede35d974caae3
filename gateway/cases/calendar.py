"""Working time (工作时间): the calendar file and deadline arithmetic over it. Pure.

    # calendar.yaml (GRIDGATE_CASES__CALENDAR_FILE); the timezone is the site's
    week:                       # working hours per weekday, wall clock
      mon-fri: [{from: "08:30", to: "12:00"}, {from: "13:30", to: "17:30"}]
    holidays:                   # public holidays (法定节假日): no working time at all
      - 2026-01-01
      - {from: 2026-02-15, to: 2026-02-23}
    workdays:                   # make-up working days (调休上班): a weekend day worked
      - 2026-02-14              # with the hours of `makeup_hours` (default mon)

A time limit is working time (`4h` working hours, `30m`, `1d` working days) or natural
time (`2h natural`). `add` walks the working windows forward from an instant; `between`
counts the working time between two instants; a working-day limit lands on the same
position within the Nth next working day (clipped to that day's hours).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from gateway.places.roster import DAYS, expand_days
from sensors.errors import FileError, Problem
from sensors.yamlfile import line_of, load_model

DEFAULT_CALENDAR = Path(__file__).parent.parent / "defaults" / "calendar.yaml"
MAX_SEARCH_DAYS = 800  # a deadline further out than this many days is a calendar mistake


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Hours(_Strict):
    """One working window [from, to) of a day, on the site's wall clock."""

    start: time = Field(alias="from")
    end: time = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Hours:
        if self.end <= self.start:
            raise ValueError("a working window ends after it starts (no overnight windows)")
        return self


class DateRange(_Strict):
    start: date = Field(alias="from")
    end: date = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.end < self.start:
            raise ValueError("`to` is before `from`")
        return self

    def days(self) -> Iterator[date]:
        day = self.start
        while day <= self.end:
            yield day
            day += timedelta(days=1)


def _one_day(value: Any) -> Any:
    return {"from": value, "to": value} if isinstance(value, date | str) else value


Days = Annotated[DateRange, BeforeValidator(_one_day)]


class CalendarFile(_Strict):
    week: dict[str, tuple[Hours, ...]]
    holidays: tuple[Days, ...] = ()
    workdays: tuple[Days, ...] = ()
    makeup_hours: str = "mon"

    @model_validator(mode="after")
    def _valid(self) -> CalendarFile:
        seen: set[str] = set()
        for spec, windows in self.week.items():
            days = expand_days(spec)
            if twice := days & seen:
                raise ValueError(f"week: {', '.join(sorted(twice))} named twice")
            seen |= days
            ordered = sorted(windows, key=lambda w: w.start)
            for a, b in itertools.pairwise(ordered):
                if b.start < a.end:
                    raise ValueError(f"week: {spec}: windows overlap")
        if not any(self.week.values()):
            raise ValueError("week: no working hours at all")
        if self.makeup_hours not in DAYS:
            raise ValueError(f"makeup_hours: one of {', '.join(DAYS)}")
        return self


class Unit(StrEnum):
    MINUTES = "m"
    HOURS = "h"
    DAYS = "d"


_LIMIT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(m|h|d)(\s+natural)?\s*$")


@dataclass(frozen=True)
class Limit:
    """A time limit as a category file writes it: `4h`, `1d`, `30m`, `2h natural`."""

    amount: float
    unit: Unit
    is_natural: bool = False

    @classmethod
    def parse(cls, text: str) -> Limit:
        m = _LIMIT.match(str(text))
        if m is None or float(m.group(1)) <= 0:
            raise ValueError(
                f"time limit {text!r}: a number above 0 and m, h or d, e.g. '4h', '1d', "
                "'30m', '2h natural'"
            )
        return cls(float(m.group(1)), Unit(m.group(2)), m.group(3) is not None)

    def __str__(self) -> str:
        amount = f"{self.amount:g}{self.unit.value}"
        return amount + (" natural" if self.is_natural else "")

    def duration(self) -> timedelta:
        """As a length of time (working days count 24 h: only for natural limits)."""
        factor = {Unit.MINUTES: 60, Unit.HOURS: 3600, Unit.DAYS: 86400}[self.unit]
        return timedelta(seconds=self.amount * factor)


LimitText = Annotated[
    Limit, BeforeValidator(lambda v: v if isinstance(v, Limit) else Limit.parse(v))
]


class Light(StrEnum):
    """The traffic light of a stage or a case: share of its time limit used so far."""

    GREEN = "green"  # under 80 %
    YELLOW = "yellow"  # 80-100 %
    RED = "red"  # over 100 %


YELLOW_AT = 0.8


def light_of(used: float) -> Light:
    if used > 1.0:
        return Light.RED
    return Light.YELLOW if used >= YELLOW_AT else Light.GREEN


@dataclass(frozen=True)
class Calendar:
    tz: ZoneInfo
    week: dict[str, tuple[Hours, ...]]  # day name -> windows, sorted
    holidays: frozenset[date]
    workdays: frozenset[date]
    makeup_hours: str = "mon"

    @classmethod
    def of(cls, spec: CalendarFile, tz: ZoneInfo) -> Calendar:
        week: dict[str, tuple[Hours, ...]] = {d: () for d in DAYS}
        for days, windows in spec.week.items():
            for d in expand_days(days):
                week[d] = tuple(sorted(windows, key=lambda w: w.start))
        return cls(
            tz,
            week,
            frozenset(d for r in spec.holidays for d in r.days()),
            frozenset(d for r in spec.workdays for d in r.days()),
            spec.makeup_hours,
        )

    # ---- which days work, and when -----------------------------------------------------

    def hours_on(self, day: date) -> tuple[Hours, ...]:
        if day in self.workdays:
            return self.week[self.makeup_hours]
        if day in self.holidays:
            return ()
        return self.week[DAYS[day.weekday()]]

    def is_working_day(self, day: date) -> bool:
        return bool(self.hours_on(day))

    def windows_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's working windows as aware instants."""
        return [
            (
                datetime.combine(day, w.start, tzinfo=self.tz),
                datetime.combine(day, w.end, tzinfo=self.tz),
            )
            for w in self.hours_on(day)
        ]

    def _windows_from(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working windows that end after `at`, in order, the first clipped to start at `at`."""
        day = at.astimezone(self.tz).date()
        for _ in range(MAX_SEARCH_DAYS):
            for start, end in self.windows_on(day):
                if end > at:
                    yield max(start, at), end
            day += timedelta(days=1)
        raise ValueError(f"no working time within {MAX_SEARCH_DAYS} days of {at.isoformat()}")

    def is_working(self, at: datetime) -> bool:
        local = at.astimezone(self.tz)
        return any(s <= local < e for s, e in self.windows_on(local.date()))

    # ---- arithmetic ----------------------------------------------------------------------

    def add(self, at: datetime, working: timedelta) -> datetime:
        """The instant `working` working time after `at` (the end of the window it runs
        out in, when it runs out exactly there)."""
        left = working
        if left <= timedelta(0):
            return at
        for start, end in self._windows_from(at):
            span = end - start
            if left <= span:
                return (start + left).astimezone(at.tzinfo)
            left -= span
        raise AssertionError("unreachable")  # pragma: no cover  # _windows_from raises

    def between(self, since: datetime, until: datetime) -> timedelta:
        """Working time in [since, until)."""
        if until <= since:
            return timedelta(0)
        total = timedelta(0)
        for start, end in self._windows_from(since):
            if start >= until:
                break
            total += min(end, until) - start
        return total

    def add_days(self, at: datetime, days: float) -> datetime:
        """`days` working days after `at`: the same share of the day's working time into
        the working day that many working days on (a fraction adds working hours of a
        standard day)."""
        whole = int(days)
        start = self._next_working_instant(at)
        local_day = start.astimezone(self.tz).date()
        into = self.between(self.windows_on(local_day)[0][0], start)
        day = local_day
        for _ in range(whole):
            day += timedelta(days=1)
            tries = 0
            while not self.is_working_day(day):
                day += timedelta(days=1)
                tries += 1
                if tries > MAX_SEARCH_DAYS:
                    raise ValueError(f"no working day within {MAX_SEARCH_DAYS} days")
        first = self.windows_on(day)[0][0]
        length = sum((e - s for s, e in self.windows_on(day)), timedelta(0))
        landed = self.add(first, min(into, length)) if into > timedelta(0) else first
        if whole and into >= length:  # the end of the day: the end of its last window
            landed = self.windows_on(day)[-1][1]
        fraction = days - whole
        if fraction:
            landed = self.add(landed, self.standard_day() * fraction)
        return landed.astimezone(at.tzinfo)

    def _next_working_instant(self, at: datetime) -> datetime:
        start, _ = next(self._windows_from(at))
        return start

    def standard_day(self) -> timedelta:
        """The working time of a normal weekday (makeup_hours' day)."""
        return sum(
            (
                datetime.combine(date.min, w.end) - datetime.combine(date.min, w.start)
                for w in self.week[self.makeup_hours]
            ),
            timedelta(0),
        )

    def deadline(self, at: datetime, limit: Limit) -> datetime:
        """When a stage that starts at `at` with `limit` falls due."""
        if limit.is_natural:
            return at + limit.duration()
        if limit.unit == Unit.DAYS:
            return self.add_days(at, limit.amount)
        return self.add(at, limit.duration())

    def used(self, start: datetime, due: datetime, now: datetime, *, natural: bool) -> float:
        """The share of [start, due) used by `now` (working time unless `natural`)."""
        if natural:
            whole, spent = due - start, now - start
        else:
            whole, spent = self.between(start, due), self.between(start, now)
        if whole <= timedelta(0):
            return 2.0 if now >= due else 0.0
        if now >= due and spent <= whole:
            # past the due instant, outside working hours: still over the limit
            return 1.0 + 1e-9 if now > due else 1.0
        return spent / whole

    def light(self, start: datetime, due: datetime, now: datetime, *, natural: bool) -> Light:
        return light_of(self.used(start, due, now, natural=natural))


def load_calendar(path: Path, tz: ZoneInfo) -> Calendar:
    """Read and check a calendar file; FileError with `path:line: where: reason`."""
    spec, lines = load_model(path, CalendarFile)
    problems: list[Problem] = []
    both = {d for r in spec.holidays for d in r.days()} & {
        d for r in spec.workdays for d in r.days()
    }
    if both:
        days = ", ".join(sorted(d.isoformat() for d in both))
        problems.append(
            Problem(line_of(lines, ("workdays",)), "workdays", f"also a holiday: {days}")
        )
    if problems:
        raise FileError(path, problems)
    return Calendar.of(spec, tz)
