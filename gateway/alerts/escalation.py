"""Deadlines, reminders and escalation (限时办结). Pure: an alert and the time in, a decision out.

Per severity an alert has a deadline to be acknowledged and one to be resolved. While it is
not acknowledged, reminders go to the same people on a growing interval (first after
`reminder_first_s`, then doubling up to `reminder_max_s`). When a deadline passes, the alert
is flagged overdue and escalates one level up the ladder (grid worker → grid leader →
community → street) and is sent again; the acknowledge deadline then starts over, so an
alert nobody takes keeps climbing until the top of the ladder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from gateway.store.records import Alert, AlertState
from rules.model import Deadline, Severity


@dataclass(frozen=True)
class SeverityTimes:
    ack_within_s: float
    resolve_within_s: float
    reminder_first_s: float
    reminder_max_s: float


DEFAULT_TIMES: dict[Severity, SeverityTimes] = {
    Severity.INFO: SeverityTimes(4 * 3600, 72 * 3600, 3600, 8 * 3600),
    Severity.WARNING: SeverityTimes(15 * 60, 24 * 3600, 5 * 60, 3600),
    Severity.CRITICAL: SeverityTimes(5 * 60, 4 * 3600, 60, 15 * 60),
    Severity.EMERGENCY: SeverityTimes(60, 3600, 30, 5 * 60),
}


@dataclass(frozen=True)
class Deadlines:
    ack_due_at: datetime
    resolve_due_at: datetime
    next_reminder_at: datetime


@dataclass(frozen=True)
class AlertPolicy:
    times: dict[Severity, SeverityTimes] = field(default_factory=lambda: dict(DEFAULT_TIMES))
    reopen_within_s: float = 600.0  # a condition back within this reopens the same alert
    ladder_levels: int = 4

    def limits(self, severity: Severity, rule: Deadline | None = None) -> SeverityTimes:
        """The severity's limits, with a rule's own deadline over them (a trapped
        passenger must be reached within 30 minutes, whatever the severity says)."""
        t = self.times[severity]
        if rule is None:
            return t
        return SeverityTimes(
            ack_within_s=rule.ack_within_s or t.ack_within_s,
            resolve_within_s=rule.resolve_within_s or t.resolve_within_s,
            reminder_first_s=t.reminder_first_s,
            reminder_max_s=t.reminder_max_s,
        )

    def deadlines(
        self, severity: Severity, at: datetime, rule: Deadline | None = None
    ) -> Deadlines:
        t = self.limits(severity, rule)
        return Deadlines(
            ack_due_at=at + timedelta(seconds=t.ack_within_s),
            resolve_due_at=at + timedelta(seconds=t.resolve_within_s),
            next_reminder_at=at + timedelta(seconds=t.reminder_first_s),
        )

    def reminder_after(self, severity: Severity, at: datetime, sent: int) -> datetime:
        """When the next reminder is due after `sent` reminders went out at `at`."""
        t = self.times[severity]
        interval = min(t.reminder_max_s, t.reminder_first_s * 2.0 ** min(sent, 30))
        return at + timedelta(seconds=interval)


class Step(StrEnum):
    ESCALATE = "escalate"  # a deadline passed: one level up, flagged overdue, sent again
    REMIND = "remind"  # still not acknowledged: tell the same people again
    OVERDUE = "overdue"  # a deadline passed at the top of the ladder: flag only


def next_due_at(alert: Alert) -> datetime | None:
    """The earliest instant `decide` may have something to do for `alert` (None: never)."""
    is_unacknowledged = alert.state in (AlertState.RAISED, AlertState.DISPATCHED)
    if not (is_unacknowledged or alert.state == AlertState.ACKNOWLEDGED) or alert.is_inhibited:
        return None
    candidates = []
    if is_unacknowledged:
        candidates += [alert.ack_due_at, alert.next_reminder_at]
    if not alert.is_overdue:
        candidates.append(alert.resolve_due_at)
    instants = [at for at in candidates if at is not None]
    return min(instants) if instants else None


def decide(alert: Alert, now: datetime, policy: AlertPolicy) -> Step | None:
    """What is due for `alert` at `now`, if anything."""
    is_unacknowledged = alert.state in (AlertState.RAISED, AlertState.DISPATCHED)
    is_open = is_unacknowledged or alert.state == AlertState.ACKNOWLEDGED
    if not is_open:
        return None
    missed_ack = is_unacknowledged and alert.ack_due_at is not None and alert.ack_due_at <= now
    missed_resolve = (
        alert.resolve_due_at is not None and alert.resolve_due_at <= now and not alert.is_overdue
    )
    if missed_ack or missed_resolve:
        if alert.escalation_level + 1 < policy.ladder_levels:
            return Step.ESCALATE
        if not alert.is_overdue or missed_ack:
            return Step.OVERDUE
    if is_unacknowledged and alert.next_reminder_at is not None and alert.next_reminder_at <= now:
        return Step.REMIND
    return None
