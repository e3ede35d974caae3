"""Which actions an alert allows in which state. Pure: states in, state out."""

from __future__ import annotations

from enum import StrEnum

from gateway.alerts.model import AlertState
from gateway.errors import InvalidTransition


class Action(StrEnum):
    DISPATCH = "dispatch"  # routing found people to tell
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    CLOSE = "close"
    CLEAR = "clear"  # the condition ended (by the rule engine, not a person)
    REOPEN = "reopen"  # the condition came back soon after it cleared


_R, _D, _A = AlertState.RAISED, AlertState.DISPATCHED, AlertState.ACKNOWLEDGED
_RES, _CLO, _CLR = AlertState.RESOLVED, AlertState.CLOSED, AlertState.CLEARED

_NEXT: dict[Action, dict[AlertState, AlertState]] = {
    Action.DISPATCH: {_R: _D, _D: _D},
    Action.ACKNOWLEDGE: {_R: _A, _D: _A},
    # a cleared alert may still be resolved: the worker records what they found
    Action.RESOLVE: {_R: _RES, _D: _RES, _A: _RES, _CLR: _RES},
    Action.CLOSE: {_RES: _CLO, _CLR: _CLO},
    # a resolved or closed alert keeps its state; only its cleared_at is set
    Action.CLEAR: {_R: _CLR, _D: _CLR, _A: _CLR, _RES: _RES, _CLO: _CLO},
    Action.REOPEN: {_CLR: _R},
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
