"""The shipped lift rules (rules/defaults/lifts.yaml) and the per-rule deadline they carry."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from rules.engine import Engine
from rules.model import DEFAULT_RULES, Deadline, RuleFile, Severity, load_rules
from sensors.errors import FileError
from sensors.kinds import Kind
from tests.unit.rules.rulekit import SHANGHAI, T0, brief, reading, rule_set, scheduler, seconds

LIFT = "lift-b3"
# the rules naming lifts, without the health rules every kind has (`kind: any`)
LIFT_RULES = RuleFile(rules=[r for r in load_rules(DEFAULT_RULES).rules if r.kind == Kind.LIFT])
# a lift parked at a landing, in service, nobody inside
AT_REST: dict[str, Any] = {
    "trapped": False,
    "moving": False,
    "at_floor": True,
    "door_open": False,
    "in_service": True,
    "floor": 1,
}


def lift(at: datetime, **changes: Any) -> Any:
    return reading(LIFT, Kind.LIFT, at, **{**AT_REST, **changes})


def raised(events: list[Any]) -> list[str]:
    return [rule for kind, rule, _ in brief(events) if kind == "raised"]


def engine() -> Engine:
    return Engine(LIFT_RULES, SHANGHAI)


def test_trapped_passengers_raise_a_critical_alert_at_once_with_a_30_minute_deadline() -> None:
    rules = {r.id: r for r in LIFT_RULES.rules}
    e = engine()
    e.observe(lift(T0), T0)

    events = e.observe(lift(T0 + seconds(5), trapped=True, at_floor=False), T0 + seconds(5))

    assert "lift_trapped" in raised(events)
    trapped = rules["lift_trapped"]
    assert trapped.severity == Severity.CRITICAL
    assert trapped.deadline == Deadline(ack_within_s=120, resolve_within_s=1800)
    assert trapped.reminder_s is not None


def test_a_car_stopped_between_floors_raises_after_30_s_if_it_stays() -> None:
    e = engine()
    e.observe(lift(T0), T0)
    stopped_at = T0 + seconds(10)

    early = e.observe(lift(stopped_at, at_floor=False, floor=4), stopped_at)
    later = scheduler(e, stopped_at, stopped_at + seconds(31))

    assert "lift_stopped_between_floors" not in raised(early)
    assert raised(later) == ["lift_stopped_between_floors"]
    assert later[0].due_at == stopped_at + seconds(30)


def test_a_car_that_levels_within_30_s_raises_nothing() -> None:
    e = engine()
    e.observe(lift(T0, at_floor=False), T0)
    e.observe(lift(T0 + seconds(20)), T0 + seconds(20))

    assert raised(scheduler(e, T0 + seconds(20), T0 + seconds(120))) == []


def test_a_car_parked_between_floors_for_maintenance_is_not_stopped_between_floors() -> None:
    e = engine()
    e.observe(lift(T0, at_floor=False, in_service=False), T0)

    events = scheduler(e, T0, T0 + seconds(120))

    assert "lift_stopped_between_floors" not in raised(events)


def test_out_of_service_raises_only_after_ten_minutes() -> None:
    e = engine()
    e.observe(lift(T0, in_service=False), T0)

    assert raised(scheduler(e, T0, T0 + seconds(599))) == []
    assert raised(scheduler(e, T0 + seconds(599), T0 + seconds(601))) == ["lift_out_of_service"]


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"moving": True, "door_open": True, "at_floor": False}, "lift_door_open_moving"),
        ({"moving": True, "overspeed": True, "at_floor": False}, "lift_overspeed"),
    ],
)
def test_dangerous_motion_raises_at_once(changes: dict[str, Any], rule: str) -> None:
    e = engine()
    e.observe(lift(T0), T0)

    assert raised(e.observe(lift(T0 + seconds(1), **changes), T0 + seconds(1))) == [rule]


def test_a_moving_car_with_its_door_shut_raises_nothing() -> None:
    e = engine()

    events = e.observe(lift(T0, moving=True, at_floor=False), T0)

    assert raised(events + scheduler(e, T0, T0 + seconds(60))) == []


# ---- the deadline field ---------------------------------------------------------------


def immediate(**extra: Any) -> dict[str, Any]:
    return {"id": "r", "when": "immediate", "kind": "smoke", "field": "smoke", **extra}


@pytest.mark.parametrize(
    ("deadline", "reason"),
    [
        ({}, "say ack_within_s, resolve_within_s or both"),
        ({"ack_within_s": 600, "resolve_within_s": 300}, "must not exceed resolve_within_s"),
        ({"resolve_within_s": 0}, "greater than 0"),
        ({"ack_within_s": 31 * 86400}, "less than or equal to 2592000"),
        ({"resolve_within_s": 1800, "escalate_s": 60}, "Extra inputs are not permitted"),
    ],
)
def test_a_bad_deadline_is_refused(deadline: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        rule_set(immediate(deadline=deadline))


def test_either_limit_alone_is_a_deadline_and_the_other_keeps_the_severity_default() -> None:
    only_resolve = rule_set(immediate(deadline={"resolve_within_s": 1800})).rules[0]
    only_ack = rule_set(immediate(deadline={"ack_within_s": 60})).rules[0]
    none = rule_set(immediate()).rules[0]

    assert only_resolve.deadline == Deadline(resolve_within_s=1800)
    assert only_ack.deadline is not None
    assert only_ack.deadline.resolve_within_s is None
    assert none.deadline is None


def test_a_bad_deadline_in_a_file_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - id: r\n"
        "    when: immediate\n"
        "    kind: lift\n"
        "    field: trapped\n"
        "    title: {zh: 困人, en: Trapped}\n"
        "    deadline:\n"
        "      resolve_within_s: -5\n",
        encoding="utf-8",
    )

    with pytest.raises(FileError) as caught:
        load_rules(path)

    assert str(caught.value).startswith(f"{path}:8: rules[0].deadline.resolve_within_s:")


def test_changing_only_a_deadline_keeps_the_rules_timers() -> None:
    held = {"id": "r", "when": "held", "kind": "lift", "field": "trapped", "hold_s": 60}
    e = Engine(rule_set(held), SHANGHAI)
    e.observe(lift(T0, trapped=True), T0)

    e.replace_rules(rule_set({**held, "deadline": {"resolve_within_s": 900}}))
    events = scheduler(e, T0, T0 + seconds(61))

    assert raised(events) == ["r"]
    assert events[0].due_at == T0 + seconds(60)
