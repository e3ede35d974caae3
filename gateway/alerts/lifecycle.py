"""Which actions an alert allows in which state. Pure: states in, state out."""

from __future__ import annotations

from enum import StrEnum

from gateway.alerts.model import AlertState
from gateway.errors import InvalidTransition


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    CLEAR = "clear"  # the condition ended (by the rule engine, not a person)


_NEXT: dict[Action, dict[AlertState, AlertState]] = {
    Action.ACKNOWLEDGE: {AlertState.RAISED: AlertState.ACKNOWLEDGED},
    Action.RESOLVE: {
        AlertState.RAISED: AlertState.RESOLVED,
        AlertState.ACKNOWLEDGED: AlertState.RESOLVED,
        # the door closed by itself; the worker still records what they found
        AlertState.CLEARED: AlertState.RESOLVED,
    },
    Action.CLEAR: {
        AlertState.RAISED: AlertState.CLEARED,
        AlertState.ACKNOWLEDGED: AlertState.CLEARED,
        # a resolved alert stays resolved; only its cleared_at is set
        AlertState.RESOLVED: AlertState.RESOLVED,
    },
}


def next_state(alert_id: int, state: AlertState, action: Action) -> AlertState:
    """The state after `action`, or InvalidTransition saying why it is not allowed."""
    allowed = _NEXT[action]
    if state not in allowed:
        can = ", ".join(s.value for s in allowed)
        raise InvalidTransition(
            alert_id, f"cannot {action.value} an alert that is {state.value} (only when {can})"
        )
    return allowed[state]
