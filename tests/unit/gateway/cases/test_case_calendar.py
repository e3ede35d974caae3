"""Working time on a fake clock: weekends, public holidays, make-up working days, day
boundaries and lunch breaks; limits in working hours, days and natural time; lights."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.cases.calendar import (
    DEFAULT_CALENDAR,
    Calendar,
    CalendarFile,
    Hours,
    Light,
    Limit,
    light_of,
    load_calendar,
)
from sensors.errors import FileError

TZ = ZoneInfo("Asia/Shanghai")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def calendar(**extra: object) -> Calendar:
    spec = CalendarFile.model_validate(
        {
            "week": {
                "mon-fri": [{"from": "08:30", "to": "12:00"}, {"from": "13:30", "to": "17:30"}]
            },
            **extra,
        }
    )
    return Calendar.of(spec, TZ)


# 2026-03-06 is a Friday, 2026-03-09 a Monday


def test_four_working_hours_on_a_friday_afternoon_run_into_monday_morning() -> None:
    cal = calendar()
    due = cal.deadline(local("2026-03-06T15:00"), Limit.parse("4h"))
    assert due == local("2026-03-09T10:00")  # 2.5 h on Friday, 1.5 h from 08:30 Monday


def test_the_lunch_break_is_not_working_time() -> None:
    cal = calendar()
    assert cal.deadline(local("2026-03-09T11:00"), Limit.parse("2h")) == local("2026-03-09T14:30")
    assert cal.between(local("2026-03-09T11:00"), local("2026-03-09T14:30")) == timedelta(hours=2)


def test_a_report_at_night_starts_counting_at_the_next_working_morning() -> None:
    cal = calendar()
    assert cal.deadline(local("2026-03-09T22:00"), Limit.parse("30m")) == local("2026-03-10T09:00")
    # ending exactly at a window's end stays there (not the next morning)
    assert cal.deadline(local("2026-03-09T17:00"), Limit.parse("30m")) == local("2026-03-09T17:30")


def test_public_holidays_have_no_working_time_and_make_up_days_do() -> None:
    cal = calendar(
        holidays=[{"from": date(2026, 2, 16), "to": date(2026, 2, 20)}],  # Mon-Fri off
        workdays=[date(2026, 2, 14)],  # a Saturday worked
    )
    # Friday 13 Feb 16:30 + 2 working hours: 1 h on Friday, 1 h on the make-up Saturday
    assert cal.deadline(local("2026-02-13T16:30"), Limit.parse("2h")) == local("2026-02-14T09:30")
    # the holiday week is skipped: from the Saturday's end to Monday 23 Feb
    assert cal.deadline(local("2026-02-14T17:00"), Limit.parse("1h")) == local("2026-02-23T09:00")
    assert not cal.is_working_day(date(2026, 2, 18))
    assert cal.is_working_day(date(2026, 2, 14))


def test_a_working_day_limit_lands_at_the_same_point_of_the_next_working_day() -> None:
    cal = calendar()
    assert cal.deadline(local("2026-03-06T10:00"), Limit.parse("1d")) == local("2026-03-09T10:00")
    assert cal.deadline(local("2026-03-06T15:00"), Limit.parse("2d")) == local("2026-03-10T15:00")
    # reported on Saturday: counted from Monday's start, due Tuesday's start
    assert cal.deadline(local("2026-03-07T10:00"), Limit.parse("1d")) == local("2026-03-10T08:30")


def test_natural_limits_ignore_the_calendar() -> None:
    cal = calendar()
    start = local("2026-03-07T23:50")  # a Saturday night
    assert cal.deadline(start, Limit.parse("30m natural")) == local("2026-03-08T00:20")


def test_the_light_turns_yellow_at_80_percent_and_red_past_the_limit() -> None:
    cal = calendar()
    start = local("2026-03-09T08:30")
    due = cal.deadline(start, Limit.parse("4h"))  # 14:00 (lunch break between)
    assert due == local("2026-03-09T14:00")
    assert cal.light(start, due, local("2026-03-09T11:00"), natural=False) == Light.GREEN
    # 3.2 h of working time used: 11:42, lunch does not count
    assert cal.light(start, due, local("2026-03-09T11:42"), natural=False) == Light.YELLOW
    assert cal.light(start, due, local("2026-03-09T13:30"), natural=False) == Light.YELLOW
    assert cal.light(start, due, local("2026-03-09T14:01"), natural=False) == Light.RED
    # past the due instant out of hours, it stays red overnight
    assert cal.light(start, due, local("2026-03-09T23:00"), natural=False) == Light.RED
    assert light_of(0.79) == Light.GREEN
    assert light_of(1.0) == Light.YELLOW


def test_a_deadline_keeps_the_callers_timezone_and_crosses_day_boundaries_in_utc() -> None:
    cal = calendar()
    start = local("2026-03-09T17:00").astimezone(ZoneInfo("UTC"))  # 09:00 UTC
    due = cal.deadline(start, Limit.parse("1h"))
    assert due.tzinfo == ZoneInfo("UTC")
    assert due == local("2026-03-10T09:00")


@pytest.mark.parametrize("text", ["0h", "4", "4 hours", "-1h", "h", "2w"])
def test_a_limit_that_is_not_a_number_and_a_unit_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="time limit"):
        Limit.parse(text)


def test_overlapping_windows_and_an_empty_week_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        CalendarFile.model_validate(
            {"week": {"mon": [{"from": "08:00", "to": "12:00"}, {"from": "11:00", "to": "13:00"}]}}
        )
    with pytest.raises(ValueError, match="no working hours"):
        CalendarFile.model_validate({"week": {"mon": []}})
    with pytest.raises(ValueError, match="ends after"):
        Hours.model_validate({"from": "12:00", "to": "08:00"})


def test_a_day_both_holiday_and_workday_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(
        'week:\n  mon-fri: [{from: "08:30", to: "17:30"}]\nholidays: [2026-05-01]\n'
        "workdays: [2026-05-01]\n",
        encoding="utf-8",
    )
    with pytest.raises(FileError) as caught:
        load_calendar(path, TZ)
    assert f"{path}:4: workdays: also a holiday: 2026-05-01" in str(caught.value)


def test_the_shipped_calendar_loads() -> None:
    cal = load_calendar(DEFAULT_CALENDAR, TZ)
    assert cal.standard_day() == timedelta(hours=7.5)
    assert not cal.is_working_day(date(2026, 10, 1))
