"""Who owns what between a community gateway and the city (docs/city.md). Pure.

A community gateway owns its devices, rule timers, and its alerts and cases up to the
community level of the ladder (grid worker 0 → grid leader 1 → community 2): it raises,
dispatches and escalates within the community without asking anybody. Escalation past
the community (street 3, district) is the city's: the step that takes an alert or a case
there goes up as a hand-off (`alert.handed_off`, `case.handed_off`) instead of
`*.escalated`, and from that event on the city owns the item's escalation and dispatch.

At the city, an update from the gateway about an item the city owns is refused (and
counted) when it is about what the city now owns: escalations, reminders, overdue flags,
dispatch and assignment decided by the gateway after it let go (a gateway offline for
hours goes on escalating on its own, as it must). What happened on the ground is still the
gateway's news and is applied: acknowledged, resolved, closed, cleared, and the case
steps of the people who handle it. Applied updates keep the city's escalation level.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# the first level of the ladder above the community: the street
HANDOFF_LEVEL = 3

_ESCALATED = {"alert.escalated": "alert.handed_off", "case.escalated": "case.handed_off"}
HANDOFFS = frozenset(_ESCALATED.values())

# what the city decides itself once it owns an item
CITY_DECIDES = frozenset(
    {
        "alert.escalated",
        "alert.overdue",
        "alert.reminded",
        "alert.dispatched",
        "alert.assigned",
        "case.escalated",
        "case.reminded",
        "case.dispatched",
        *HANDOFFS,
    }
)


class Owner(StrEnum):
    GATEWAY = "gateway"
    CITY = "city"


def feed_event(event: str, escalation_level: int) -> str:
    """The event a gateway sends up for `event`: an escalation that reaches the street
    is the hand-off to the city; anything else goes up as it is."""
    if event in _ESCALATED and escalation_level == HANDOFF_LEVEL:
        return _ESCALATED[event]
    return event


@dataclass(frozen=True)
class Held:
    """What the city holds of one alert or case: its owner, the sequence number of the
    update it shows, and the escalation level the city keeps once it owns it."""

    owner: Owner
    seq: int
    city_level: int | None = None


class Verdict(StrEnum):
    APPLY = "apply"
    # an update older than the one shown (a gap filled late): recorded, not shown
    SUPERSEDED = "superseded"
    # about what the city owns: refused and counted
    CITY_OWNED = "city_owned"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    owner: Owner
    city_level: int | None


def decide(held: Held | None, event: str, seq: int, escalation_level: int) -> Decision:
    """What the city does with a gateway's update of one alert or case."""
    if held is None:
        if event in HANDOFFS:
            return Decision(Verdict.APPLY, Owner.CITY, escalation_level)
        return Decision(Verdict.APPLY, Owner.GATEWAY, None)
    if seq <= held.seq:
        if event in HANDOFFS and held.owner == Owner.GATEWAY:
            # a hand-off that arrives after a later update (a gap filled late): not shown,
            # but the item is the city's from now on all the same
            return Decision(Verdict.SUPERSEDED, Owner.CITY, escalation_level)
        return Decision(Verdict.SUPERSEDED, held.owner, held.city_level)
    if held.owner == Owner.CITY:
        if event in CITY_DECIDES:
            return Decision(Verdict.CITY_OWNED, held.owner, held.city_level)
        return Decision(Verdict.APPLY, held.owner, held.city_level)
    if event in HANDOFFS:
        return Decision(Verdict.APPLY, Owner.CITY, escalation_level)
    return Decision(Verdict.APPLY, Owner.GATEWAY, None)
