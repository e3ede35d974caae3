"""What happens to an alert: rule events, people's actions and deadlines in, the alert as it
becomes and its audit entry out. Pure: values and the time in, values out; the alert stage
(gateway/pipeline/alerting.py) hands the result to routing and then to the store.

    raised ─dispatch─► dispatched ─acknowledge─► acknowledged ─resolve─► resolved ─close─► closed
      │                  │                         (the condition ending leaves it
      └───── clear ──────┴─► cleared ─reopen─► raised  acknowledged: the person on it still
                               │                       records what they found)
                               └─resolve / close─► resolved / closed
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from gateway.alerts.escalation import AlertPolicy, Step, decide
from gateway.errors import InvalidTransition
from gateway.places.site import Placement
from gateway.store.records import (
    FINAL_STATES,
    Alert,
    AlertState,
    Episode,
    Resolution,
    Transition,
)
from rules.engine import AlertEvent
from rules.model import Deadline


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
    # an alert somebody took stays theirs when the door closes: only cleared_at is set,
    # as for one already resolved or closed; nobody took it: it is cleared
    Action.CLEAR: {_R: _CLR, _D: _CLR, _A: _A, _RES: _RES, _CLO: _CLO},
    Action.REOPEN: {_CLR: _R, _A: _A},
}

PEOPLES_ACTIONS = (Action.ACKNOWLEDGE, Action.RESOLVE, Action.CLOSE)


def next_state(alert_id: int, state: AlertState, action: Action) -> AlertState:
    """The state after `action`, or InvalidTransition saying why it is not allowed."""
    allowed = _NEXT[action]
    if state not in allowed:
        can = ", ".join(s.value for s in allowed)
        raise InvalidTransition(
            alert_id, f"cannot {action.value} an alert that is {state.value} (only when {can})"
        )
    return allowed[state]


@dataclass(frozen=True, slots=True)
class Change:
    """One decided change: the alert as it becomes, its audit entry, the event routing
    tells people about (None: nobody is told) and the episode to keep, if one began or
    ended."""

    alert: Alert
    log: Transition
    event: str | None
    episode: Episode | None = None


def _log(alert: Alert, at: datetime, action: str, actor: str, note: str | None) -> Transition:
    return Transition(alert.id, at, action, actor, alert.state, note)


def _episode(alert: Alert) -> Episode:
    return Episode(
        alert.id, alert.episode, alert.opened_at, alert.due_at, alert.raised_at, alert.cleared_at
    )


# ---- what the rule engine says --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Raise:
    """A rule event with where its subject stands and the rule's words and limits."""

    event: AlertEvent
    placement: Placement
    title_zh: str
    title_en: str
    deadline: Deadline | None = None


def can_reopen(alert: Alert, at: datetime, policy: AlertPolicy) -> bool:
    """Whether a raise at `at` reopens `alert` (the latest of its rule and subject) rather
    than opening a new one: its condition ended within `reopen_within_s`, and nobody has
    finished it."""
    return (
        alert.cleared_at is not None
        and alert.state not in FINAL_STATES
        and alert.cleared_at >= at - timedelta(seconds=policy.reopen_within_s)
    )


def on_raise(
    item: Raise, new_id: int, latest: Alert | None, now: datetime, policy: AlertPolicy
) -> Change | None:
    """The raise of a rule event: a new alert, the latest one reopened, or nothing when
    that one is still active (one alert per rule and subject while the condition holds)."""
    event = item.event
    if latest is not None and latest.is_active:
        return None
    deadlines = policy.deadlines(event.severity, event.at, item.deadline)
    if latest is not None and can_reopen(latest, event.at, policy):
        state = next_state(latest.id, latest.state, Action.REOPEN)
        is_untaken = state == AlertState.RAISED
        alert = replace(
            latest,
            state=state,
            opened_at=event.opened_at,
            due_at=event.due_at,
            raised_at=event.at,
            cleared_at=None,
            reopened=latest.reopened + 1,
            message_zh=event.message_zh or latest.message_zh,
            message_en=event.message_en or latest.message_en,
            is_inhibited=event.is_inhibited,
            # the new episode starts the clocks again, unless somebody is on it already
            ack_due_at=deadlines.ack_due_at if is_untaken else latest.ack_due_at,
            resolve_due_at=deadlines.resolve_due_at if is_untaken else latest.resolve_due_at,
            next_reminder_at=deadlines.next_reminder_at if is_untaken else None,
            is_overdue=False if is_untaken else latest.is_overdue,
            escalation_level=0 if is_untaken else latest.escalation_level,
            reminders=0 if is_untaken else latest.reminders,
            dispatched_at=None if is_untaken else latest.dispatched_at,
        )
        return Change(
            alert, _log(alert, now, "reopen", "rules", None), "alert.raised", _episode(alert)
        )
    placement = item.placement
    alert = Alert(
        id=new_id,
        rule_id=event.rule_id,
        title_zh=item.title_zh,
        title_en=item.title_en,
        severity=event.severity,
        kind=event.kind.value,
        device_id=event.device_id,
        state=AlertState.RAISED,
        location=placement.location,
        place=placement.place(),
        opened_at=event.opened_at,
        due_at=event.due_at,
        raised_at=event.at,
        ack_due_at=deadlines.ack_due_at,
        resolve_due_at=deadlines.resolve_due_at,
        next_reminder_at=deadlines.next_reminder_at,
        message_zh=event.message_zh or item.title_zh,
        message_en=event.message_en or item.title_en,
        is_inhibited=event.is_inhibited,
    )
    return Change(alert, _log(alert, now, "raise", "rules", None), "alert.raised", _episode(alert))


def on_clear(active: Alert | None, at: datetime, now: datetime) -> Change | None:
    """The condition ended at `at`: the active alert of the rule and subject clears."""
    if active is None or not active.is_active:
        return None
    state = next_state(active.id, active.state, Action.CLEAR)
    alert = replace(
        active,
        state=state,
        cleared_at=at,
        next_reminder_at=None if state == AlertState.CLEARED else active.next_reminder_at,
    )
    return Change(alert, _log(alert, now, "clear", "rules", None), "alert.cleared", _episode(alert))


def on_rule_reminder(active: Alert | None, now: datetime) -> Change | None:
    """The rule's own reminder while its condition holds: sent only while nobody has taken
    the alert (after that, the person on it knows)."""
    if (
        active is None
        or not active.is_active
        or active.state not in (AlertState.RAISED, AlertState.DISPATCHED)
        or active.is_inhibited
    ):
        return None
    alert = replace(active, reminders=active.reminders + 1)
    return Change(alert, _log(alert, now, "remind", "rules", None), "alert.reminded")


# ---- what routing found ------------------------------------------------------------------


def on_dispatch(alert: Alert, targets: list[str], now: datetime) -> Change | None:
    """Routing addressed the alert to people: it is dispatched (again, on escalation)."""
    if alert.state not in (AlertState.RAISED, AlertState.DISPATCHED):
        return None
    state = next_state(alert.id, alert.state, Action.DISPATCH)
    dispatched = replace(alert, state=state, dispatched_at=alert.dispatched_at or now)
    return Change(
        dispatched, _log(dispatched, now, "dispatch", "routing", ", ".join(targets)), None
    )


# ---- what people do ---------------------------------------------------------------------


def on_action(
    alert: Alert,
    action: Action,
    actor: str,
    note: str | None,
    now: datetime,
    resolution: Resolution | None = None,
) -> Change:
    """Acknowledge, resolve or close; InvalidTransition when the state does not allow it."""
    if action not in PEOPLES_ACTIONS:
        raise ValueError(f"{action.value} is not a person's action")
    state = next_state(alert.id, alert.state, action)
    if action == Action.ACKNOWLEDGE:
        done = replace(
            alert, state=state, acknowledged_at=now, acknowledged_by=actor, next_reminder_at=None
        )
    elif action == Action.RESOLVE:
        done = replace(
            alert,
            state=state,
            resolved_at=now,
            resolved_by=actor,
            resolution=resolution or Resolution.OTHER,
            note=note if note is not None else alert.note,
            next_reminder_at=None,
        )
    else:
        done = replace(alert, state=state, closed_at=now, next_reminder_at=None)
    return Change(done, _log(done, now, action.value, actor, note), "alert." + state.value)


def on_assign(alert: Alert, person_id: str, actor: str, now: datetime) -> Change:
    if alert.state in FINAL_STATES:
        raise InvalidTransition(alert.id, f"cannot assign an alert that is {alert.state}")
    assigned = replace(alert, assigned_to=person_id)
    return Change(assigned, _log(assigned, now, "assign", actor, person_id), "alert.assigned")


def on_comment(alert: Alert, person_id: str, text: str, now: datetime) -> Change:
    return Change(alert, _log(alert, now, "comment", person_id, text), None)


# ---- what time does ----------------------------------------------------------------------


def on_deadline(
    alert: Alert, now: datetime, policy: AlertPolicy, rule: Deadline | None = None
) -> Change | None:
    """Escalate, flag or remind as `escalation.decide` says (None: nothing is due)."""
    step = decide(alert, now, policy)
    if step is None:
        return None
    limits = policy.limits(alert.severity, rule)
    is_unacked = alert.state in (AlertState.RAISED, AlertState.DISPATCHED)
    if step == Step.ESCALATE:
        changed = replace(
            alert,
            escalation_level=alert.escalation_level + 1,
            is_overdue=True,
            ack_due_at=now + timedelta(seconds=limits.ack_within_s) if is_unacked else None,
            next_reminder_at=policy.reminder_after(alert.severity, now, 0) if is_unacked else None,
        )
        event = "alert.escalated"
    elif step == Step.OVERDUE:
        changed = replace(alert, is_overdue=True, ack_due_at=None)
        event = "alert.overdue"
    else:
        changed = replace(
            alert,
            reminders=alert.reminders + 1,
            next_reminder_at=policy.reminder_after(alert.severity, now, alert.reminders + 1),
        )
        event = "alert.reminded"
    return Change(changed, _log(changed, now, step.value, "deadlines", None), event)
