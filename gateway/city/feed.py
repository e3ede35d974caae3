"""The city feed, on a community gateway: every alert and case lifecycle event, and a device
health summary now and then, as outbox rows of their own (docs/city.md).

The alert stage hands the feed every alert change it routes (as a `Follower`), the case
stage every case change; the feed appends one row per event to the step, so the row is
written in the transaction of the change it describes and numbered there
(gateway/store/outbox.py `write_feed`). The row's body is the event with the whole record:

    {"gateway": "c-yanghe", "event": "alert.raised", "alert": {...every field...}}
    {"gateway": "c-yanghe", "event": "case.handed_off", "case": {...}}
    {"gateway": "c-yanghe", "event": "devices.health", "health": {"devices": 412, ...}}

The link (gateway/city/link.py) adds the sequence number and the global id when it sends.
The feed does not go through the routing file: the routing file chooses who among people
and channels is told, per event, and a site edits it; the city must get every event of
every gateway, in order, whatever a site's routing says.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.city.ownership import feed_event
from gateway.city.records import alert_record, case_record
from gateway.store.records import Alert, Case, Delivery, DeviceState
from gateway.store.step import StepWrite

log = logging.getLogger(__name__)

CHANNEL = "city"  # the outbox rows' channel and target: one feed per gateway
_AT_ONCE = datetime(2000, 1, 1, tzinfo=UTC)


class Feed:
    def __init__(
        self,
        gateway_id: str,
        take_id: Callable[[], int],
        health: Callable[[datetime], dict[str, int]],
        every: timedelta,
    ) -> None:
        self.gateway_id = gateway_id
        self._take_id = take_id
        self._health = health
        self._every = every
        self._next_health_at: datetime | None = None

    def _row(self, step: StepWrite, event: str, body: dict[str, Any], now: datetime,
             alert_id: int = 0, case_id: int | None = None) -> None:  # fmt: skip
        row_id = self._take_id()
        step.deliveries.append(
            Delivery(
                id=row_id,
                alert_id=alert_id,
                case_id=case_id,
                event=event,
                channel=CHANNEL,
                target=CHANNEL,
                body=json.dumps(
                    {"gateway": self.gateway_id, "event": event, **body}, ensure_ascii=False
                ),
                idempotency_key=f"city:{row_id}",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
                is_feed=True,
            )
        )

    # the alert stage's follower (gateway/pipeline/alerting.py `Follower`)

    def on_alert(self, step: StepWrite, alert: Alert, event: str, now: datetime) -> None:
        sent = feed_event(event, alert.escalation_level)
        self._row(step, sent, {"alert": alert_record(alert)}, now, alert_id=alert.id)

    def on_deadlines(self, step: StepWrite, now: datetime) -> None:
        # a step whose timers are held back (a backlog to work off) passes the earliest
        # instant there is: nothing is due then, and no summary goes out stamped year 1
        if now < (self._next_health_at or _AT_ONCE):
            return
        self._next_health_at = now + self._every
        self._row(step, "devices.health", {"health": self._health(now)}, now)

    def next_due_at(self) -> datetime | None:
        # none sent since the start: one is due at once (the city learns the gateway is up)
        return self._next_health_at or _AT_ONCE

    # the case stage's (gateway/pipeline/casework.py)

    def on_case(self, step: StepWrite, case: Case, event: str, now: datetime) -> None:
        sent = feed_event(event, case.escalation_level)
        self._row(step, sent, {"case": case_record(case)}, now, case_id=case.id)


def device_health(
    states: Mapping[str, DeviceState], registered: int, now: datetime
) -> dict[str, int]:
    """The devices in a few numbers: registered, reporting (online and heard from within
    their kind's limit), offline (said so), silent (quiet past their kind's limit), never
    heard from; and the low batteries."""
    online = offline = silent = low = 0
    for state in states.values():
        if state.is_online is False:
            offline += 1
        elif state.is_silent(now):
            silent += 1
        else:
            online += 1
        battery = state.fields.get("battery")
        if isinstance(battery, int | float) and not isinstance(battery, bool) and battery < 20:
            low += 1
    return {
        "devices": registered,
        "online": online,
        "offline": offline,
        "silent": silent,
        "never_seen": max(0, registered - len(states)),
        "low_battery": low,
    }
