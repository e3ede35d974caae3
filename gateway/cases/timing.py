"""What time and sensors do to a case: reminders before a stage's limit, escalation up
the ladder past it, auto-verification once the device stayed normal; an alert's raise and
clear as evidence. Pure: a case and the time in, a `Change` out."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from gateway.cases.deadlines import STAGE_OF, CasePolicy, quiet_time
from gateway.cases.workflow import LADDER_TOP, Change, entry_of
from gateway.store.records import Case, CaseState


def next_due_at(case: Case) -> datetime | None:
    if case.is_final and case.auto_verify_at is None:
        return None
    instants = [case.remind_at, case.escalate_at]
    if case.state == CaseState.HANDLED:
        instants.append(case.auto_verify_at)
    present = [i for i in instants if i is not None]
    return min(present) if present else None


def on_time(case: Case, now: datetime, policy: CasePolicy) -> Change | None:
    """Auto-verification, escalation or a reminder that came due by `now` (None: nothing)."""
    if case.state == CaseState.HANDLED and case.auto_verify_at and case.auto_verify_at <= now:
        changed = policy.enter(
            replace(case, state=CaseState.CLOSED, closed_at=now, verified_by="sensors",
                    auto_verify_at=None),
            now,
        )  # fmt: skip
        note = "the device stayed back to normal (核查 by the sensor)"
        return Change(changed, entry_of(changed, now, "verify", "sensors", note), "case.verified")
    if case.escalate_at is not None and case.escalate_at <= now:
        level = case.escalation_level + 1
        stage = STAGE_OF.get(case.state)
        again = None
        if stage is not None and level < LADDER_TOP:
            again = policy.calendar.deadline(now, policy.limit(case, stage))
        changed = replace(
            case, escalation_level=min(level, LADDER_TOP), escalate_at=again, remind_at=None
        )
        note = f"{stage.value if stage else '-'} overdue: level {changed.escalation_level}"
        return Change(
            changed, entry_of(changed, now, "escalate", "deadlines", note), "case.escalated"
        )
    if case.remind_at is not None and case.remind_at <= now:
        changed = replace(case, remind_at=None, reminders=case.reminders + 1)
        stage = STAGE_OF.get(case.state)
        note = f"{stage.value if stage else '-'} due soon (催办)"
        return Change(changed, entry_of(changed, now, "remind", "deadlines", note), "case.reminded")
    return None


def on_alert_raised(case: Case, alert_id: int, now: datetime, policy: CasePolicy) -> Change:
    """The sensor's condition is back (or another alert of the device joins the case):
    the device is no longer normal; a case already handled goes back to the handler."""
    ids = case.alert_ids if alert_id in case.alert_ids else (*case.alert_ids, alert_id)
    changed = replace(case, alert_ids=ids, normal_since=None, auto_verify_at=None)
    if case.state == CaseState.HANDLED:
        changed = policy.enter(
            replace(changed, state=CaseState.ACCEPTED, reworks=case.reworks + 1), now
        )
        note = f"alert {alert_id}: the condition is back after handling (返工)"
        return Change(changed, entry_of(changed, now, "rework", "sensors", note), "case.reworked")
    return Change(
        changed, entry_of(changed, now, "alert", "sensors", f"alert {alert_id} joined"), None
    )


def on_alert_cleared(case: Case, alert_id: int, at: datetime, now: datetime,
                     policy: CasePolicy) -> Change:  # fmt: skip
    """The alert's condition ended: evidence for verification, not the closure."""
    changed = replace(case, normal_since=at)
    if case.state == CaseState.HANDLED:
        changed = replace(changed, auto_verify_at=max(now, at + quiet_time(case, policy)))
    note = f"alert {alert_id} cleared: the device is back to normal"
    return Change(changed, entry_of(changed, now, "evidence", "sensors", note), None)
