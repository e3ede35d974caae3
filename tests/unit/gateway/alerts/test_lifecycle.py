"""Which actions an alert allows in which state."""

from __future__ import annotations

import pytest

from gateway.alerts.lifecycle import Action, next_state
from gateway.errors import InvalidTransition
from gateway.store.records import AlertState

R, D, A = AlertState.RAISED, AlertState.DISPATCHED, AlertState.ACKNOWLEDGED
RES, CLO, CLR = AlertState.RESOLVED, AlertState.CLOSED, AlertState.CLEARED
ALLOWED = {
    (R, Action.DISPATCH): D,
    (D, Action.DISPATCH): D,  # dispatched again on escalation
    (R, Action.ACKNOWLEDGE): A,
    (D, Action.ACKNOWLEDGE): A,
    (R, Action.RESOLVE): RES,
    (D, Action.RESOLVE): RES,
    (A, Action.RESOLVE): RES,
    (CLR, Action.RESOLVE): RES,
    (RES, Action.CLOSE): CLO,
    (CLR, Action.CLOSE): CLO,
    (R, Action.CLEAR): CLR,
    (D, Action.CLEAR): CLR,
    (A, Action.CLEAR): A,  # taken: stays the person's until they resolve it
    (RES, Action.CLEAR): RES,
    (CLO, Action.CLEAR): CLO,
    (CLR, Action.REOPEN): R,
    (A, Action.REOPEN): A,
}
DISALLOWED = [
    (state, action) for state in AlertState for action in Action if (state, action) not in ALLOWED
]


@pytest.mark.parametrize(("state", "action"), list(ALLOWED))
def test_allowed_transition_gives_the_next_state(state: AlertState, action: Action) -> None:
    assert next_state(7, state, action) == ALLOWED[state, action]


def test_every_pair_is_either_allowed_or_refused() -> None:
    assert len(ALLOWED) + len(DISALLOWED) == len(AlertState) * len(Action)
    assert (AlertState.ACKNOWLEDGED, Action.ACKNOWLEDGE) in DISALLOWED
    assert (AlertState.RESOLVED, Action.RESOLVE) in DISALLOWED
    assert (AlertState.CLEARED, Action.ACKNOWLEDGE) in DISALLOWED
    assert (AlertState.CLEARED, Action.CLEAR) in DISALLOWED


@pytest.mark.parametrize(("state", "action"), DISALLOWED)
def test_disallowed_transition_says_why(state: AlertState, action: Action) -> None:
    with pytest.raises(InvalidTransition) as caught:
        next_state(42, state, action)

    error = caught.value
    assert error.alert_id == 42
    assert str(error).startswith("alert 42: ")
    assert f"cannot {action.value}" in error.reason
    assert f"is {state.value}" in error.reason
    # names the states in which the action would be allowed
    allowed_from = [s.value for (s, a) in ALLOWED if a == action]
    assert all(name in error.reason for name in allowed_from)
