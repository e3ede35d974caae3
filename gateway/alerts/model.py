"""The alert record as the store keeps it and the API shows it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gateway.site import Node
from rules.model import Severity


class AlertState(StrEnum):
    RAISED = "raised"  # the condition was met; nobody has acted yet
    ACKNOWLEDGED = "acknowledged"  # a person has taken it
    RESOLVED = "resolved"  # a person closed it, with a note
    CLEARED = "cleared"  # the condition ended before anybody resolved it


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
