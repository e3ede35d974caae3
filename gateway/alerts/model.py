"""The alert record as the store keeps it and the API shows it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gateway.places.site import Node
from rules.model import Severity


class AlertState(StrEnum):
    RAISED = "raised"  # the condition was met; nobody has been told yet
    DISPATCHED = "dispatched"  # sent to the people on duty for its place
    ACKNOWLEDGED = "acknowledged"  # a person has taken it
    RESOLVED = "resolved"  # a person recorded what was found and done
    CLOSED = "closed"  # the case is finished (a leader closed it after resolution)
    CLEARED = "cleared"  # the condition ended before anybody resolved it


OPEN_STATES = (AlertState.RAISED, AlertState.DISPATCHED, AlertState.ACKNOWLEDGED)


class Resolution(StrEnum):
    """Why an alert was resolved: the reason codes KPIs count."""

    REPAIRED = "repaired"
    FALSE_ALARM = "false_alarm"
    RESIDENT_CLOSED = "resident_closed"
    HANDLED_ON_SITE = "handled_on_site"
    OTHER = "other"


@dataclass(frozen=True)
class Alert:
    id: int
    rule_id: str
    title_zh: str
    title_en: str
    severity: Severity
    kind: str
    device_id: str
    state: AlertState
    location: tuple[Node, ...]
    place: str
    opened_at: datetime
    due_at: datetime | None
    raised_at: datetime
    cleared_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    note: str | None = None
    dispatched_at: datetime | None = None
    escalation_level: int = 0
    ack_due_at: datetime | None = None
    resolve_due_at: datetime | None = None
    next_reminder_at: datetime | None = None
    reminders: int = 0
    is_overdue: bool = False
    assigned_to: str | None = None
    resolution: Resolution | None = None
    closed_at: datetime | None = None
    reopened: int = 0
    message_zh: str = ""
    message_en: str = ""
    is_inhibited: bool = False

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(n.id for n in self.location)

    @property
    def is_active(self) -> bool:
        """Whether the condition still holds (the door is still open)."""
        return self.cleared_at is None


@dataclass(frozen=True)
class Transition:
    """One entry of an alert's audit trail."""

    alert_id: int
    at: datetime
    action: str
    actor: str
    state: AlertState
    note: str | None
