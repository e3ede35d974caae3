"""The versioned JSON body that describes one alert event to the outside world.

Every channel starts from this body: the webhook sends it as it is; text channels render
words from it. Version 1 (docs/webhooks.md):

    {"version": 1, "event": "alert.raised", "alert": {"id": 7, "rule": "door_left_open",
     "title": {"zh": "门未关闭", "en": "Door left open"}, "severity": "warning",
     "state": "raised", "device_id": "door-b1-u1", "kind": "door",
     "location": [{"level": "district", "id": "d1", "name": "示例区"}, ...],
     "place": "阳光社区 / 第1网格 / 1号楼 / 1单元 / 单元门",
     "episode": 1, "opened_at": "...", "due_at": "...", "raised_at": "...",
     "cleared_at": null, ...}}

The times are the episode's: an alert reopened (its condition back soon after it cleared)
says when the new episode opened, fell due and was raised; GET /alerts/{id} lists every
episode. Version 2 (several events per POST, gateway/channels/webhook.py) carries a list
of these bodies, each with its idempotency key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.store.records import Alert

VERSION = 1


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def alert_json(alert: Alert) -> dict[str, Any]:
    """The alert as JSON-ready values (the API shows the same fields)."""
    return {
        "id": alert.id,
        "rule": alert.rule_id,
        "title": {"zh": alert.title_zh, "en": alert.title_en},
        "message": {"zh": alert.message_zh, "en": alert.message_en},
        "severity": alert.severity.value,
        "state": alert.state.value,
        "is_active": alert.is_active,
        "device_id": alert.device_id,
        "kind": alert.kind,
        "location": [{"level": n.level.value, "id": n.id, "name": n.name} for n in alert.location],
        "place": alert.place,
        "episode": alert.episode,  # 2 and up: the condition came back soon after it cleared
        "opened_at": _iso(alert.opened_at),
        "due_at": _iso(alert.due_at),
        "raised_at": _iso(alert.raised_at),
        "cleared_at": _iso(alert.cleared_at),
        "acknowledged_at": _iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "resolved_at": _iso(alert.resolved_at),
        "resolved_by": alert.resolved_by,
        "note": alert.note,
        "escalation_level": alert.escalation_level,
        "is_overdue": alert.is_overdue,
        "is_inhibited": alert.is_inhibited,
    }


def notice(alert: Alert, event: str) -> dict[str, Any]:
    return {"version": VERSION, "event": event, "alert": alert_json(alert)}
