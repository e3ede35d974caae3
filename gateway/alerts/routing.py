"""Who is told about an alert event, through which channel: the routing file's decision
(gateway/alerts/routes.py) turned into the messages to queue. Pure: an alert, the event
and the time in; the messages out. The alert stage queues them in the step that decided
the event, so a message exists exactly when the change it describes does.

- `channels`: a plain copy of the event to each channel named (or every channel of a type).
- `on_duty`: the people on duty for the alert's place at its escalation level; if none is
  on duty there, the next level up (grid worker → grid leader → community → street). Or
  one role only, without climbing.
- `people`, `assignee`: those people, whatever their duty hours.
- `residents`: the phones the site lists for the alert's unit, by SMS only.

A person is reached on the channels their roster entry names (a channel's name, or a
type). SMS goes to each person alone, with a signed link to act on the alert; any other
channel gets one message per event however many routes and people lead to it: a webhook
that gets every event and is also a person's channel is sent one copy, which names the
people it is for. Residents' phone numbers go to the SMS channel and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.alerts.links import LinkSigner
from gateway.alerts.notice import notice
from gateway.alerts.routes import Decision, EventFacts, Notify, Routes
from gateway.places.roster import LADDER, Person, Role, Roster
from gateway.store.records import Alert

PERSONAL_CHANNELS = frozenset({"sms"})  # one message reaches one phone


@dataclass(frozen=True)
class ChannelRef:
    type: str
    name: str


@dataclass(frozen=True)
class Entry:
    """One message to queue for one alert event."""

    channel: str
    target: str
    body: dict[str, Any]
    idempotency_key: str
    is_dispatch: bool  # addressed to people: the alert becomes dispatched
    routes: tuple[str, ...]  # the routes that chose it


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


@dataclass
class _Draft:
    """A message being put together from every decision that leads to one receiver."""

    ref: ChannelRef
    routes: list[str] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    phones: tuple[str, ...] = ()  # residents
    is_dispatch: bool = False


class Router:
    def __init__(
        self,
        *,
        routes: Routes,
        channels: list[ChannelRef],
        roster: Roster,
        tz: ZoneInfo,
        links: LinkSigner | None = None,
        resident_phones: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.routes = routes
        self._channels = channels
        self._roster = roster
        self._tz = tz
        self._links = links
        self._resident_phones = resident_phones or {}

    def replace_routes(self, routes: Routes) -> None:
        self.routes = routes

    def decisions(self, alert: Alert, event: str, now: datetime) -> list[Decision]:
        facts = EventFacts(
            event=event.removeprefix("alert."),
            rule_id=alert.rule_id,
            kind=alert.kind,
            severity=alert.severity,
            node_ids=alert.node_ids,
            at=now,
        )
        return self.routes.decide(facts, self._tz)

    def __call__(self, alert: Alert, event: str, now: datetime) -> list[Entry]:
        """The messages `event` of `alert` causes; none for an inhibited alert (a larger
        alert covers it: the building is dark, its devices are not told one by one)."""
        if alert.is_inhibited:
            return []
        drafts: dict[tuple[str, ...], _Draft] = {}
        for decision in self.decisions(alert, event, now):
            self._add(drafts, decision, alert, now)
        body = notice(alert, event)
        return [self._entry(alert, event, body, key, d, now) for key, d in drafts.items()]

    # ---- from a decision to drafts ----------------------------------------------------

    def _add(
        self, drafts: dict[tuple[str, ...], _Draft], decision: Decision, alert: Alert, now: datetime
    ) -> None:
        notify = decision.notify
        if notify.channels is not None:
            for ref in self._refs(notify.channels):
                if ref.type in PERSONAL_CHANNELS:
                    continue  # an SMS needs a person or a resident to go to
                self._draft(drafts, (ref.type, ref.name), ref, decision.route)
            return
        if notify.residents is not None:
            phones = self._resident_phones.get(alert.node_ids[-1], ())
            for ref in self._refs((notify.residents,)):
                if ref.type == "sms" and phones:
                    draft = self._draft(drafts, ("sms", ref.name, "residents"), ref, decision.route)
                    draft.phones = phones
            return
        for person in self._people(notify, alert, now):
            for wanted in person.channels:
                for ref in self._refs((wanted,))[:1]:  # a type a person names: its first
                    key = (ref.type, ref.name, person.id) if ref.type in PERSONAL_CHANNELS else (
                        ref.type, ref.name,
                    )  # fmt: skip
                    if ref.type == "sms" and person.phone is None:
                        continue
                    draft = self._draft(drafts, key, ref, decision.route)
                    draft.is_dispatch = True
                    if person not in draft.people:
                        draft.people.append(person)

    def _draft(
        self,
        drafts: dict[tuple[str, ...], _Draft],
        key: tuple[str, ...],
        ref: ChannelRef,
        route: str,
    ) -> _Draft:
        draft = drafts.setdefault(key, _Draft(ref))
        if route not in draft.routes:
            draft.routes.append(route)
        return draft

    def _refs(self, wanted: tuple[str, ...]) -> list[ChannelRef]:
        """Channels by name, or every channel of a type."""
        out: list[ChannelRef] = []
        for name in wanted:
            named = [c for c in self._channels if c.name == name]
            for ref in named or [c for c in self._channels if c.type == name]:
                if ref not in out:
                    out.append(ref)
        return out

    def _people(self, notify: Notify, alert: Alert, now: datetime) -> list[Person]:
        people = self._roster.people
        if notify.on_duty == "ladder":
            return recipients(self._roster, alert, now, self._tz)[1]
        if notify.on_duty is not None:
            role = Role(notify.on_duty)
            return [
                p
                for p in self._roster.responders(alert.node_ids, role)
                if p.is_on_duty(now, self._tz)
            ]
        if notify.people is not None:
            return [people[p] for p in notify.people if p in people]
        if notify.assignee and alert.assigned_to in people:
            return [people[alert.assigned_to]]
        return []

    # ---- drafts to entries ------------------------------------------------------------

    def _entry(
        self,
        alert: Alert,
        event: str,
        body: dict[str, Any],
        key: tuple[str, ...],
        draft: _Draft,
        now: datetime,
    ) -> Entry:
        ref = draft.ref
        if draft.phones:
            extra: dict[str, Any] = {
                "audience": "residents",
                "recipients": [{"person_id": None, "name": None, "phone": p} for p in draft.phones],
            }
            who = "residents"
        elif draft.people:
            extra = {
                "recipients": [
                    {"person_id": p.id, "name": p.name, "phone": p.phone} for p in draft.people
                ],
                "escalation_level": alert.escalation_level,
            }
            if self._links is not None and len(draft.people) == 1:
                extra["link"] = self._links.url(alert.id, draft.people[0].id, now)
            who = key[2] if len(key) > 2 else ""
        else:
            extra, who = {}, ""
        return Entry(
            channel=ref.type,
            target=ref.name,
            body={**body, **extra},
            idempotency_key=idempotency_key(alert, event, ref.name, who),
            is_dispatch=draft.is_dispatch,
            routes=tuple(draft.routes),
        )


def idempotency_key(alert: Alert, event: str, target: str, who: str = "") -> str:
    """Stable across retries and restarts (a receiver can drop repeats), new for each
    episode, reminder, escalation and assignee (the n-th reminder is a new message, not a
    retry of the last): `alert-7-e1-raised-ops`, `alert-7-e2-reminded3-sms-w-g1`."""
    short = event.removeprefix("alert.")
    if short == "reminded":
        short += str(alert.reminders)
    elif short == "escalated":
        short += str(alert.escalation_level)
    elif short == "assigned":
        short += "-" + (alert.assigned_to or "")
    key = f"alert-{alert.id}-e{alert.episode}-{short}-{target}"
    return f"{key}-{who}" if who else key


Route = Callable[[Alert, str, datetime], list[Entry]]
