"""Who is told about an alert event. For now: every configured webhook gets every event.

`route(alert, event)` runs inside the store's transaction that records the event, so
the outbox rows exist exactly when the alert change does.
"""

from __future__ import annotations

from gateway.alerts.model import Alert
from gateway.alerts.notice import notice
from gateway.config import WebhookTarget
from gateway.store.db import OutboxEntry, Route

# events forwarded to webhooks: raised and cleared (the rule engine's words)
FORWARDED_EVENTS = frozenset({"alert.raised", "alert.cleared"})


def webhook_route(targets: list[WebhookTarget]) -> Route:
    def route(alert: Alert, event: str) -> list[OutboxEntry]:
        if event not in FORWARDED_EVENTS:
            return []
        body = notice(alert, event)
        return [
            OutboxEntry(
                channel="webhook",
                target=t.name,
                body=body,
                # stable across retries and restarts: a receiver can drop repeats
                idempotency_key=f"alert-{alert.id}-{event.removeprefix('alert.')}-{t.name}",
            )
            for t in targets
        ]

    return route
