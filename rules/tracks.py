"""The engine's values: a Track per (rule, subject), and the AlertEvents it hands out.

A Track is what the store saves so timers survive a restart: when the condition began,
when it raises (`due_at`), whether it has, and `data`, a JSON-able dict of what the
condition needs beyond that (instants as ISO 8601 text):

    last         last value of the watched field (count, inactivity)
    times        instants of recent transitions, newest last (count)
    value        last value read (threshold)
    remind_at    next reminder of a raised alert
    closes_at    when the rule's window closes (a raised alert clears then)
    clear_at     when a count falls back under the limit
    silent_at    when a device went silent (absence), for node grouping
    emit_at      when a silent device's own alert is raised if its node stays quiet
    is_inhibited the alert was raised under a node alert (not sent on its own)
    cause        "silent" or "unavailable" (absence)
    count/total  devices silent / watched under a node (node_offline)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from rules.model import Severity
from sensors.kinds import Kind
from sensors.shared import SharedDicts

TrackKey = tuple[str, str]  # (rule id, subject id: a device id or a node id)

# Timers a track may hold in `data`, by whether the alert is raised.
_PENDING_TIMERS = ("emit_at",)
_RAISED_TIMERS = ("clear_at", "closes_at", "remind_at")


def iso(at: datetime) -> str:
    return at.isoformat()


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(slots=True)
class Track:
    """One rule's condition holding (or being watched) on one subject."""

    since_at: datetime  # event time the condition began
    due_at: datetime | None  # when it raises (or raised); None if it waits for a reading
    is_raised: bool
    data: dict[str, Any] = field(default_factory=dict)

    def next_at(self) -> datetime | None:
        """The instant this track next needs the engine, if any."""
        data = self.data
        if not self.is_raised and "emit_at" not in data:  # the commonest: a due time or none
            return None if "silent_at" in data else self.due_at
        names = _RAISED_TIMERS if self.is_raised else _PENDING_TIMERS
        times = [instant(data[n]) for n in names if n in data]
        if not self.is_raised and self.due_at is not None and "silent_at" not in data:
            times.append(self.due_at)
        return min(times, default=None)


# Track data is never changed in place (it is replaced), so tracks that carry the same
# small data (every offline watch of a door: `{"kind": "door"}`) can share one dict.
# Larger data holds instants, unique to its track: not worth a table entry.
shared_data = SharedDicts(256, max_items=1).share


class EventType(StrEnum):
    RAISED = "raised"
    CLEARED = "cleared"
    REMINDED = "reminded"


@dataclass(frozen=True)
class AlertEvent:
    """An alert raised, cleared or reminded for one subject (a device, or a node).

    `at`: RAISED and REMINDED carry the processing time (`now`); CLEARED the event time
    that ended the condition (a reading's, or a computed instant such as a window's end).
    `due_at`: when a timed raise (or a reminder) was due; None for an immediate raise.
    """

    type: EventType
    rule_id: str
    device_id: str  # the subject: a device id, or the node id when node_id is set
    kind: Kind
    severity: Severity
    opened_at: datetime  # when the condition began (event time)
    at: datetime
    due_at: datetime | None = None
    subject_id: str = ""  # device id or node id; filled from device_id when left empty
    node_id: str | None = None
    message_zh: str = ""
    message_en: str = ""
    is_inhibited: bool = False

    def __post_init__(self) -> None:
        if not self.subject_id:
            object.__setattr__(self, "subject_id", self.device_id)
