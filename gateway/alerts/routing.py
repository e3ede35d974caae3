"""Who is told about an alert event, through which channel.

`Router(alert, event)` runs inside the store's transaction that records the event, so the
outbox rows exist exactly when the alert change does.

- Webhooks get every raised and cleared event (integrations mirror the alert stream).
- With a roster, raised / escalated / reminded events go to the people on duty at the
  alert's escalation level for its place: the grid workers of its grid first; if none is on
  duty, the next level up (grid leader → community → street). Each person is reached on
  the channels their roster entry names (a channel instance's name, or a channel type).
  An assigned alert goes to the person it was assigned to.
- Without a roster, every configured chat/MQTT channel gets raised and cleared events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from gateway.alerts.links import LinkSigner
from gateway.alerts.model import Alert
from gateway.alerts.notice import notice
from gateway.config import WebhookTarget
from gateway.places.roster import LADDER, Person, Roster
from gateway.store.db import OutboxEntry

# events forwarded to webhooks: raised and cleared (the rule engine's words)
FORWARDED_EVENTS = frozenset({"alert.raised", "alert.cleared"})
# events that go to people
PEOPLE_EVENTS = frozenset({"alert.raised", "alert.escalated", "alert.reminded"})
# channels whose one message reaches one person (the others post to a group); a webhook a
# person names is their own integration (an app, a pager), so it is addressed per person
PERSONAL_CHANNELS = frozenset({"sms", "webhook"})


@dataclass(frozen=True)
class ChannelRef:
    type: str
    name: str


def recipients(
    roster: Roster, alert: Alert, now: datetime, tz: ZoneInfo
) -> tuple[int, list[Person]]:
    """The ladder level actually reached and the people on duty there.

    Starts at the alert's escalation level and climbs while nobody is on duty.
    """
    for level in range(min(alert.escalation_level, len(LADDER) - 1), len(LADDER)):
        people = [
            p for p in roster.responders(alert.node_ids, LADDER[level]) if p.is_on_duty(now, tz)
        ]
        if people:
            return level, people
    return len(LADDER) - 1, []


class Router:
    def __init__(
        self,
        *,
        webhooks: list[WebhookTarget],
        channels: list[ChannelRef],
        roster: Roster,
        tz: ZoneInfo,
        now: Callable[[], datetime],
        links: LinkSigner | None = None,
        resident_phones: dict[str, tuple[str, ...]] | None = None,
        resident_rules: frozenset[str] = frozenset({"door_left_open"}),
    ) -> None:
        self._webhooks = webhooks
        self._channels = channels
        self._roster = roster
        self._tz = tz
        self._now = now
        self._links = links
        self._resident_phones = resident_phones or {}
        self._resident_rules = resident_rules

    def __call__(self, alert: Alert, event: str) -> list[OutboxEntry]:
        body = notice(alert, event)
        short = event.removeprefix("alert.") + _reopen_mark(alert)
        entries: list[OutboxEntry] = []
        if event in FORWARDED_EVENTS:
            entries.extend(
                OutboxEntry(
                    channel="webhook",
                    target=t.name,
                    body=body,
                    # stable across retries and restarts: a receiver can drop repeats
                    idempotency_key=f"alert-{alert.id}-{short}-{t.name}",
                )
                for t in self._webhooks
            )
        entries.extend(self._to_residents(alert, event, body))
        if not self._roster.people:
            if event in FORWARDED_EVENTS:
                entries.extend(
                    OutboxEntry(c.type, c.name, body, f"alert-{alert.id}-{short}-{c.name}")
                    for c in self._channels
                    if c.type not in PERSONAL_CHANNELS  # webhooks got theirs above
                )
            return entries
        people = self._people_for(alert, event)
        if people:
            entries.extend(self._to_people(alert, event, body, people))
        return entries

    def _to_residents(self, alert: Alert, event: str, body: dict[str, object]) -> list[OutboxEntry]:
        """A reminder SMS to the residents of a unit whose door was left open.

        The SMS channel applies per-number limits and quiet hours (audience: residents).
        """
        if event != "alert.raised" or alert.rule_id not in self._resident_rules:
            return []
        phones = self._resident_phones.get(alert.node_ids[-1], ())
        sms = next((c for c in self._channels if c.type == "sms"), None)
        if not phones or sms is None:
            return []
        recipients = [{"person_id": None, "name": None, "phone": p} for p in phones]
        return [
            OutboxEntry(
                sms.type,
                sms.name,
                {**body, "audience": "residents", "recipients": recipients},
                f"alert-{alert.id}-residents-{alert.reopened}-{sms.name}",
            )
        ]

    def _people_for(self, alert: Alert, event: str) -> list[Person]:
        if event == "alert.assigned" and alert.assigned_to:
            person = self._roster.people.get(alert.assigned_to)
            return [person] if person is not None else []
        if event not in PEOPLE_EVENTS:
            return []
        _, people = recipients(self._roster, alert, self._now(), self._tz)
        return people

    def _resolve(self, wanted: str) -> ChannelRef | None:
        for c in self._channels:
            if c.name == wanted:
                return c
        return next((c for c in self._channels if c.type == wanted), None)

    def _to_people(
        self, alert: Alert, event: str, body: dict[str, object], people: list[Person]
    ) -> list[OutboxEntry]:
        # the n-th reminder or escalation is a new message, not a retry of the last one
        serial = {"alert.reminded": alert.reminders, "alert.escalated": alert.escalation_level}
        key = f"alert-{alert.id}-{event.removeprefix('alert.')}-{serial.get(event, 0)}"
        key += _reopen_mark(alert)
        groups: dict[ChannelRef, list[Person]] = {}
        for person in people:
            for wanted in person.channels:
                ref = self._resolve(wanted)
                if ref is not None and person not in groups.setdefault(ref, []):
                    groups[ref].append(person)
        entries = []
        now = self._now()
        for ref, members in groups.items():
            if ref.type in PERSONAL_CHANNELS:
                for person in members:
                    if ref.type == "sms" and person.phone is None:
                        continue
                    entries.append(
                        OutboxEntry(
                            ref.type,
                            ref.name,
                            {**body, **self._addressed(alert, [person], now, with_link=True)},
                            f"{key}-{ref.name}-{person.id}",
                            is_dispatch=True,
                        )
                    )
                continue
            entries.append(
                OutboxEntry(
                    ref.type,
                    ref.name,
                    {**body, **self._addressed(alert, members, now, with_link=False)},
                    f"{key}-{ref.name}",
                    is_dispatch=True,
                )
            )
        return entries

    def _addressed(
        self, alert: Alert, people: list[Person], now: datetime, *, with_link: bool
    ) -> dict[str, object]:
        extra: dict[str, object] = {
            "recipients": [{"person_id": p.id, "name": p.name, "phone": p.phone} for p in people],
            "escalation_level": alert.escalation_level,
        }
        if with_link and self._links is not None and len(people) == 1:
            extra["link"] = self._links.url(alert.id, people[0].id, now)
        return extra


def _reopen_mark(alert: Alert) -> str:
    """Part of an idempotency key: a reopened alert's raise and clear are new messages,
    not repeats of the first ones (which the outbox would drop as already queued)."""
    return f"-r{alert.reopened}" if alert.reopened else ""
