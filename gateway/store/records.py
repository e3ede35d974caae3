"""The records the store keeps, as the rest of the gateway reads and hands them.

Values only: what may happen to an alert is decided in gateway/alerts/, what a reading does
to a device in gateway/pipeline/devices.py. The store writes what it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from gateway.places.site import Node
from rules.model import Severity
from sensors.kinds import KINDS, Kind
from sensors.reading import FieldValue

# ---- alerts --------------------------------------------------------------------------


class AlertState(StrEnum):
    RAISED = "raised"  # the condition was met; nobody has been told yet
    DISPATCHED = "dispatched"  # sent to the people on duty for its place
    ACKNOWLEDGED = "acknowledged"  # a person has taken it
    RESOLVED = "resolved"  # a person recorded what was found and done
    CLOSED = "closed"  # the case is finished (a leader closed it after resolution)
    CLEARED = "cleared"  # the condition ended before anybody took it


OPEN_STATES = (AlertState.RAISED, AlertState.DISPATCHED, AlertState.ACKNOWLEDGED)
FINAL_STATES = (AlertState.RESOLVED, AlertState.CLOSED)


class Resolution(StrEnum):
    """Why an alert was resolved: the reason codes KPIs count."""

    REPAIRED = "repaired"
    FALSE_ALARM = "false_alarm"
    RESIDENT_CLOSED = "resident_closed"
    HANDLED_ON_SITE = "handled_on_site"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
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
    # the episode in hand: a condition back soon after it cleared reopens the alert, and
    # these four describe the new episode (earlier ones are kept as `Episode` rows)
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
    reopened: int = 0  # episodes before the one in hand
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

    @property
    def is_open(self) -> bool:
        """Whether people still have something to do (not resolved, closed or cleared)."""
        return self.state in OPEN_STATES

    @property
    def episode(self) -> int:
        return self.reopened + 1


@dataclass(frozen=True, slots=True)
class Transition:
    """One entry of an alert's audit trail."""

    alert_id: int
    at: datetime
    action: str
    actor: str
    state: AlertState
    note: str | None


@dataclass(frozen=True, slots=True)
class Episode:
    """One time the alert's condition held: the first raise, or a reopening."""

    alert_id: int
    number: int  # 1 for the first
    opened_at: datetime
    due_at: datetime | None
    raised_at: datetime
    cleared_at: datetime | None


# ---- outbox --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message for one alert event (or case event) to one target, as the outbox
    keeps it."""

    id: int
    alert_id: int  # 0 for a message about a case
    event: str
    channel: str
    target: str
    body: str  # JSON
    idempotency_key: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    is_dispatch: bool = False  # addressed to people on duty
    case_id: int | None = None  # a message about a case (gateway/cases/)
    # a row of the city feed (gateway/city/feed.py): numbered when written, in the same
    # transaction (`seq`: 1, 2, ... per gateway, with no gaps and no repeats)
    is_feed: bool = False
    seq: int | None = None

    @property
    def order_key(self) -> int:
        """What the outbox keeps in order per target: the alert, or the case (negative);
        the city feed is one order (0): the city applies a gateway's events in sequence."""
        if self.is_feed:
            return 0
        return self.alert_id if self.case_id is None else -self.case_id


class OutcomeKind(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # failed; try again at `retry_at`
    DEAD = "dead"  # given up
    DEFERRED = "deferred"  # not sent on purpose (quiet hours, budget): no attempt counted


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one delivery attempt, to record."""

    delivery_id: int
    kind: OutcomeKind
    at: datetime
    error: str = ""
    retry_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An outbox row given up: listed by GET /outbox/dead, retried by POST .../retry."""

    id: int
    alert_id: int  # 0 for a message about a case
    event: str
    channel: str
    target: str
    attempts: int
    error: str
    created_at: datetime
    case_id: int | None = None


# ---- devices -------------------------------------------------------------------------


class DoorState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    OFFLINE = "offline"
    UNKNOWN = "unknown"  # no report yet, or silent for longer than its kind allows


@dataclass(slots=True)
class DeviceState:
    """What the gateway knows of a device. The pipeline owns the live copies (a repeated
    report moves the two instants in place); the store keeps them across restarts."""

    device_id: str
    kind: Kind
    fields: Mapping[str, FieldValue]  # compact (sensors/shared.py Fields) once stored
    changed_at: datetime | None  # when the state field last changed
    last_event_at: datetime | None  # the instant the last reading was applied at
    last_seen_at: datetime  # arrival of the last message of any sort
    is_online: bool | None  # None: never said
    # the device's clock minus the gateway's at its last reading that carried a time of
    # its own (None: its readings carry none); a bridge whose clock drifts shows here
    clock_skew_s: float | None = None
    changes: int = 0  # state changes so far: numbers its history entries
    last_stamp_at: datetime | None = None  # the device's own time on its last reading

    def is_silent(self, now: datetime) -> bool:
        """No report for longer than the kind allows: the last state is no longer known."""
        limit = KINDS[self.kind].offline_after_s
        return limit is not None and (now - self.last_seen_at).total_seconds() > limit

    def door_state(self, now: datetime) -> DoorState:
        if self.is_online is False:
            return DoorState.OFFLINE
        if self.is_silent(now):
            # a door that went silent while open may still be open: never say "closed"
            return DoorState.UNKNOWN
        value = self.fields.get("open")
        if value is None:
            return DoorState.UNKNOWN
        return DoorState.OPEN if value else DoorState.CLOSED


@dataclass(frozen=True, slots=True)
class Sighting:
    """Messages from a device the registry does not know, folded into one row."""

    device_id: str
    adapter: str
    topic: str
    last_payload: str
    count: int
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class StateChange:
    """A change of a device's state, kept for its history (the last few hundred)."""

    device_id: str
    at: datetime
    state: dict[str, Any]


# ---- cases (事件): gateway/cases/ decides, these are the values -------------------------


class CaseSource(StrEnum):
    SENSOR = "sensor"  # a sensor alert opened it
    PATROL = "patrol"  # a grid worker on patrol (巡查上报)
    RESIDENT = "resident"  # a resident, through the public report page
    HOTLINE = "hotline"  # the 12345 hotline
    UPPER = "upper"  # handed down by an upper level (上级交办)


class CaseState(StrEnum):
    REPORTED = "reported"  # 上报: a resident's report, to be checked on site (核实)
    FILED = "filed"  # 立案: a case, to be dispatched
    DISPATCHED = "dispatched"  # 派遣: sent to its handlers, to be accepted
    ACCEPTED = "accepted"  # 接单: a handler is on it (also after a failed verification)
    HANDLED = "handled"  # 处置: the handler reported what was done; to be verified
    CLOSED = "closed"  # 结案: verified by someone else, or by the device back to normal
    RETURNED = "returned"  # 退单: not the handler's job, back to the dispatcher with a reason
    ON_HOLD = "on_hold"  # 挂账: cannot be solved now; on the hold list
    CANCELLED = "cancelled"  # 作废: not a case (not confirmed on site, a duplicate)


CASE_FINAL_STATES = (CaseState.CLOSED, CaseState.CANCELLED)


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意


@dataclass(frozen=True, slots=True)
class Reporter:
    """Who reported a case: a person of the roster, or a resident by name and phone."""

    person_id: str | None = None
    name: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class ExtensionRequest:
    """A handler's request for more time (延期申请), waiting for a leader's decision."""

    by: str
    at: datetime
    limit: str  # a time limit as the category file writes it: "4h", "1d"
    reason: str


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    source: CaseSource
    category: str  # 小类 id (gateway/cases/categories.py)
    major: str  # 大类 id
    title_zh: str
    title_en: str
    severity: Severity
    state: CaseState
    location: tuple[Node, ...]
    place: str
    description: str
    reporter: Reporter
    reported_at: datetime
    device_id: str | None = None
    address: str | None = None  # free text: where exactly
    lat: float | None = None
    lon: float | None = None
    filed_at: datetime | None = None
    dispatched_at: datetime | None = None
    accepted_at: datetime | None = None
    handled_at: datetime | None = None
    closed_at: datetime | None = None
    cancelled_at: datetime | None = None
    # the handling deadline (处置时限), extensions included; the first one as filed
    due_at: datetime | None = None
    first_due_at: datetime | None = None
    # the stage in hand: when it began, when it falls due, its reminder and escalation
    stage_started_at: datetime | None = None
    stage_due_at: datetime | None = None
    remind_at: datetime | None = None
    escalate_at: datetime | None = None
    escalation_level: int = 0
    reminders: int = 0
    dispatched_to: tuple[str, ...] = ()  # people the case went to
    department: str | None = None
    handler: str | None = None  # who accepted it
    handled_by: str | None = None
    verified_by: str | None = None
    reworks: int = 0
    extensions: int = 0  # approved
    extension_request: ExtensionRequest | None = None
    held_at: datetime | None = None
    reason: str | None = None  # of the last return, hold or cancellation
    satisfaction: Satisfaction | None = None
    callback_at: datetime | None = None
    callback_by: str | None = None
    # sensor cases: the alerts behind it; since when its device has been back to normal
    alert_ids: tuple[int, ...] = ()
    normal_since: datetime | None = None
    auto_verify_at: datetime | None = None

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(n.id for n in self.location)

    @property
    def is_final(self) -> bool:
        return self.state in CASE_FINAL_STATES


@dataclass(frozen=True, slots=True)
class CasePhoto:
    """A photo kept under the state folder (`cases/<case id>/<photo id>`)."""

    id: str  # random hex: the file's name
    case_id: int
    at: datetime
    by: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class CaseEntry:
    """One step of a case's history: who did what, when, with which note and photos."""

    case_id: int
    at: datetime
    action: str
    actor: str
    state: CaseState
    note: str | None = None
    photos: tuple[str, ...] = ()
