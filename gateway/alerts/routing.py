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
- `department`: the people of a department (gateway/places/departments.py), and a plain
  copy to its channels.

The same router routes case events (gateway/cases/): the case side hands it a `Subject`
(the event's facts, the place, the level, the assignees, the body) instead of an alert.

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
from gateway.places.departments import Department
from gateway.places.roster import LADDER, RESIDENTS, Person, Role, Roster
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
    people: tuple[str, ...] = ()  # the ids of the people it is for


@dataclass(frozen=True)
class Subject:
    """What routing needs of what an event is about (an alert, or a case)."""

    facts: EventFacts
    node_ids: tuple[str, ...]
    escalation_level: int
    assignees: tuple[str, ...]  # `assignee: true`
    body: dict[str, Any]
    key: str  # the idempotency key up to the target: `alert-7-e1-raised`
    link: Callable[[str, datetime], str] | None = None  # a person's action link
    department: str | None = None  # its channels count as assignees too
    unit_id: str | None = None  # `residents`: whose phones


def recipients(
    roster: Roster, alert: Alert, now: datetime, tz: ZoneInfo
) -> tuple[int, list[Person]]:
    """The ladder level actually reached and the people on duty there.

    Starts at the alert's escalation level and climbs while nobody is on duty.
    """
    return ladder(roster, alert.node_ids, alert.escalation_level, now, tz)


def ladder(
    roster: Roster, node_ids: tuple[str, ...], level: int, now: datetime, tz: ZoneInfo
) -> tuple[int, list[Person]]:
    for step in range(min(level, len(LADDER) - 1), len(LADDER)):
        people = [p for p in roster.responders(node_ids, LADDER[step]) if p.is_on_duty(now, tz)]
        if people:
            return step, people
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
        departments: Mapping[str, Department] | None = None,
    ) -> None:
        self.routes = routes
        self._channels = channels
        self._roster = roster
        self._tz = tz
        self._links = links
        self._resident_phones = resident_phones or {}
        self.departments = departments or {}

    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    def replace_routes(self, routes: Routes) -> None:
        self.routes = routes

    def subject(self, alert: Alert, event: str, now: datetime) -> Subject:
        links = self._links
        node_ids = alert.node_ids  # made from the location on each call
        return Subject(
            facts=EventFacts(
                event=event.removeprefix("alert."),
                rule_id=alert.rule_id,
                kind=alert.kind,
                severity=alert.severity,
                node_ids=node_ids,
                at=now,
            ),
            node_ids=node_ids,
            escalation_level=alert.escalation_level,
            assignees=(alert.assigned_to,) if alert.assigned_to else (),
            body=notice(alert, event),
            key=idempotency_key(alert, event, ""),
            link=None if links is None else lambda person, at: links.url(alert.id, person, at),
            unit_id=node_ids[-1],
        )

    def decisions(self, alert: Alert, event: str, now: datetime) -> list[Decision]:
        return self.routes.decide(self.subject(alert, event, now).facts, self._tz)

    def __call__(self, alert: Alert, event: str, now: datetime) -> list[Entry]:
        """The messages `event` of `alert` causes; none for an inhibited alert (a larger
        alert covers it: the building is dark, its devices are not told one by one)."""
        if alert.is_inhibited:
            return []
        return self.route(self.subject(alert, event, now), now)

    def route(self, subject: Subject, now: datetime) -> list[Entry]:
        """The messages for one event of `subject`, from the routing file."""
        return self.route_decided(subject, self.routes.decide(subject.facts, self._tz), now)

    def route_decided(
        self, subject: Subject, decisions: list[Decision], now: datetime
    ) -> list[Entry]:
        drafts: dict[tuple[str, ...], _Draft] = {}
        for decision in decisions:
            self._add(drafts, decision, subject, now)
        return [self._entry(subject, key, d, now) for key, d in drafts.items()]

    def people_for(
        self, subject: Subject, now: datetime
    ) -> tuple[list[Person], str | None, list[str]]:
        """Who the routing file chooses for `subject`'s event, without a message: the
        people (in order), the department named if any, and the routes that chose."""
        people: list[Person] = []
        department: str | None = None
        routes: list[str] = []
        for decision in self.routes.decide(subject.facts, self._tz):
            notify = decision.notify
            if notify.department is not None and department is None:
                department = notify.department
            for person in self._people(notify, subject, now):
                if person not in people:
                    people.append(person)
                    if decision.route not in routes:
                        routes.append(decision.route)
        return people, department, routes

    # ---- from a decision to drafts ----------------------------------------------------

    def _add(
        self,
        drafts: dict[tuple[str, ...], _Draft],
        decision: Decision,
        subject: Subject,
        now: datetime,
    ) -> None:
        notify = decision.notify
        if notify.channels is not None:
            self._copies(drafts, notify.channels, decision.route)
            return
        if notify.residents is not None:
            phones = self._resident_phones.get(subject.unit_id or "", ())
            # a type names its first channel, as for a person: one text per resident
            texts = [r for r in self._refs((notify.residents,)) if r.type == "sms"][:1]
            for ref in texts if phones else []:
                draft = self._draft(drafts, ("sms", ref.name, RESIDENTS), ref, decision.route)
                draft.phones = phones
            return
        department = self.departments.get(notify.department or "")
        if department is not None:
            self._copies(drafts, department.channels, decision.route)
        if notify.assignee and subject.department in self.departments:
            self._copies(
                drafts, self.departments[subject.department or ""].channels, decision.route
            )
        for person in self._people(notify, subject, now):
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

    def _copies(
        self, drafts: dict[tuple[str, ...], _Draft], channels: tuple[str, ...], route: str
    ) -> None:
        for ref in self._refs(channels):
            if ref.type in PERSONAL_CHANNELS:
                continue  # an SMS needs a person or a resident to go to
            self._draft(drafts, (ref.type, ref.name), ref, route)

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

    def _people(self, notify: Notify, subject: Subject, now: datetime) -> list[Person]:
        people = self._roster.people
        if notify.on_duty == "ladder":
            return ladder(self._roster, subject.node_ids, subject.escalation_level, now, self._tz)[
                1
            ]
        if notify.on_duty is not None:
            role = Role(notify.on_duty)
            return [
                p
                for p in self._roster.responders(subject.node_ids, role)
                if p.is_on_duty(now, self._tz)
            ]
        if notify.people is not None:
            return [people[p] for p in notify.people if p in people]
        if notify.assignee:
            return [people[p] for p in subject.assignees if p in people]
        if notify.department is not None:
            department = self.departments.get(notify.department)
            return (
                [] if department is None else [people[p] for p in department.people if p in people]
            )
        return []

    # ---- drafts to entries ------------------------------------------------------------

    def _entry(self, subject: Subject, key: tuple[str, ...], draft: _Draft, now: datetime) -> Entry:
        ref = draft.ref
        if draft.phones:
            extra: dict[str, Any] = {
                "audience": "residents",
                "recipients": [{"person_id": None, "name": None, "phone": p} for p in draft.phones],
            }
            who = RESIDENTS
        elif draft.people:
            extra = {
                "recipients": [
                    {"person_id": p.id, "name": p.name, "phone": p.phone} for p in draft.people
                ],
                "escalation_level": subject.escalation_level,
            }
            if subject.link is not None and len(draft.people) == 1:
                extra["link"] = subject.link(draft.people[0].id, now)
            who = key[2] if len(key) > 2 else ""
        else:
            extra, who = {}, ""
        target_key = f"{subject.key}-{ref.name}"
        return Entry(
            channel=ref.type,
            target=ref.name,
            body={**subject.body, **extra},
            idempotency_key=f"{target_key}-{who}" if who else target_key,
            is_dispatch=draft.is_dispatch,
            routes=tuple(draft.routes),
            people=tuple(p.id for p in draft.people),
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
    key = f"alert-{alert.id}-e{alert.episode}-{short}"
    key = f"{key}-{target}" if target else key
    return f"{key}-{who}" if who else key


Route = Callable[[Alert, str, datetime], list[Entry]]
