"""The versioned JSON body of one case event, for channels and the city (issue 17):

    {"version": 1, "event": "case.dispatched", "case": {"id": 12, "category":
     "exposed_rubbish", "major": "environment", "title": {"zh": "暴露垃圾", ...},
     "severity": "warning", "state": "dispatched", "source": "resident", "location": [...],
     "place": "...", "description": "...", "reporter": {"name": "张*", "phone":
     "138****0001"}, "reported_at": "...", "due_at": "...", ...}}

The reporter's phone and name are always masked here: a message leaves the case's grids.
Text channels read `title`, `place`, `severity` and `opened_at` (the report's time) as
they do for an alert (gateway/channels/text.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.places.roster import masked_phone as masked
from gateway.store.records import Case

VERSION = 1


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def masked_phone(phone: str | None) -> str | None:
    return masked(phone) if phone else None


def masked_name(name: str | None) -> str | None:
    if not name:
        return None
    return name[0] + "*" * max(1, len(name) - 1)


def case_json(case: Case) -> dict[str, Any]:
    reporter = case.reporter
    return {
        "id": case.id,
        "category": case.category,
        "major": case.major,
        "rule": case.category,
        "title": {"zh": case.title_zh, "en": case.title_en},
        "severity": case.severity.value,
        "state": case.state.value,
        "source": case.source.value,
        "location": [{"level": n.level.value, "id": n.id, "name": n.name} for n in case.location],
        "place": case.place,
        "address": case.address,
        "description": case.description,
        "device_id": case.device_id,
        "reporter": {
            "person_id": reporter.person_id,
            "name": masked_name(reporter.name) if reporter.person_id is None else reporter.name,
            "phone": masked_phone(reporter.phone),
        },
        "opened_at": _iso(case.reported_at),
        "reported_at": _iso(case.reported_at),
        "filed_at": _iso(case.filed_at),
        "dispatched_at": _iso(case.dispatched_at),
        "accepted_at": _iso(case.accepted_at),
        "handled_at": _iso(case.handled_at),
        "closed_at": _iso(case.closed_at),
        "cancelled_at": _iso(case.cancelled_at),
        "due_at": _iso(case.due_at),
        "stage_due_at": _iso(case.stage_due_at),
        "escalation_level": case.escalation_level,
        "dispatched_to": list(case.dispatched_to),
        "department": case.department,
        "handler": case.handler,
        "handled_by": case.handled_by,
        "verified_by": case.verified_by,
        "reworks": case.reworks,
        "extensions": case.extensions,
        "reason": case.reason,
        "satisfaction": None if case.satisfaction is None else case.satisfaction.value,
        "alert_ids": list(case.alert_ids),
    }


def notice(case: Case, event: str) -> dict[str, Any]:
    return {"version": VERSION, "event": event, "case": case_json(case)}
