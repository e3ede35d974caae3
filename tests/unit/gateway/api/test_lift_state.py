"""A lift's state as GET /lifts and the dashboard say it, from the monitor's last report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.api.routes.lifts import lift_state
from gateway.api.schemas import LiftState
from gateway.store.records import DeviceState
from sensors.kinds import KINDS, Kind
from sensors.reading import FieldValue

NOW = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
LEVEL = {"trapped": False, "moving": False, "at_floor": True, "in_service": True, "floor": 3}


def _lift(
    fields: dict[str, FieldValue], *, seen_s_ago: float = 5, online: bool = True
) -> DeviceState:
    seen_at = NOW - timedelta(seconds=seen_s_ago)
    return DeviceState("lift-b1", Kind.LIFT, fields, seen_at, seen_at, seen_at, online)


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        (LEVEL, LiftState.IN_SERVICE),
        ({**LEVEL, "moving": True, "at_floor": False}, LiftState.IN_SERVICE),  # travelling
        ({**LEVEL, "at_floor": False}, LiftState.STOPPED_BETWEEN_FLOORS),
        ({**LEVEL, "in_service": False}, LiftState.OUT_OF_SERVICE),
        # maintenance often parks a car between floors: out of service says more
        ({**LEVEL, "in_service": False, "at_floor": False}, LiftState.OUT_OF_SERVICE),
        # trapped outranks everything, also out of service and between floors
        ({**LEVEL, "trapped": True, "in_service": False, "at_floor": False}, LiftState.TRAPPED),
        ({"trapped": False}, LiftState.IN_SERVICE),  # a monitor that says no more than that
        ({"in_service": True}, LiftState.UNKNOWN),  # the state field never reported
    ],
)
def test_the_most_urgent_state_the_report_shows_wins(
    fields: dict[str, FieldValue], state: LiftState
) -> None:
    assert lift_state(_lift(fields), NOW) == state


def test_a_silent_or_offline_lift_is_never_said_to_be_in_service() -> None:
    limit_s = KINDS[Kind.LIFT].offline_after_s
    assert limit_s is not None
    assert lift_state(_lift(LEVEL, seen_s_ago=limit_s + 1), NOW) == LiftState.UNKNOWN
    trapped = {**LEVEL, "trapped": True}
    assert lift_state(_lift(trapped, seen_s_ago=limit_s + 1), NOW) == LiftState.UNKNOWN
    assert lift_state(_lift(LEVEL, online=False), NOW) == LiftState.OFFLINE
    assert lift_state(None, NOW) == LiftState.UNKNOWN
