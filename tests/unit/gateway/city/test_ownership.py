"""Who owns an alert or case between a gateway and the city (gateway/city/ownership.py)."""

from __future__ import annotations

import pytest

from gateway.city.ownership import (
    HANDOFF_LEVEL,
    Held,
    Owner,
    Verdict,
    decide,
    feed_event,
)


@pytest.mark.parametrize("subject", ["alert", "case"])
def test_an_escalation_to_the_street_is_the_hand_off_and_others_go_up_as_they_are(
    subject: str,
) -> None:
    assert feed_event(f"{subject}.escalated", HANDOFF_LEVEL) == f"{subject}.handed_off"
    assert feed_event(f"{subject}.escalated", HANDOFF_LEVEL - 1) == f"{subject}.escalated"
    assert feed_event(f"{subject}.escalated", HANDOFF_LEVEL + 1) == f"{subject}.escalated"
    assert feed_event(f"{subject}.reminded", HANDOFF_LEVEL) == f"{subject}.reminded"


def test_the_gateway_owns_an_item_until_it_hands_it_off() -> None:
    first = decide(None, "alert.raised", 1, 0)
    assert (first.verdict, first.owner, first.city_level) == (Verdict.APPLY, Owner.GATEWAY, None)
    held = Held(Owner.GATEWAY, 1)
    assert decide(held, "alert.escalated", 2, 2).verdict == Verdict.APPLY
    handed = decide(held, "alert.handed_off", 2, HANDOFF_LEVEL)
    assert (handed.verdict, handed.owner, handed.city_level) == (
        Verdict.APPLY, Owner.CITY, HANDOFF_LEVEL)  # fmt: skip


@pytest.mark.parametrize(
    "event", ["alert.escalated", "alert.reminded", "alert.overdue", "alert.assigned",
              "alert.handed_off", "case.escalated", "case.dispatched"],
)  # fmt: skip
def test_once_the_city_owns_it_the_gateways_escalation_and_dispatch_are_refused(
    event: str,
) -> None:
    held = Held(Owner.CITY, 5, HANDOFF_LEVEL)
    assert decide(held, event, 6, HANDOFF_LEVEL + 1).verdict == Verdict.CITY_OWNED


@pytest.mark.parametrize(
    "event", ["alert.acknowledged", "alert.resolved", "alert.closed", "alert.cleared",
              "case.handled", "case.verified", "case.accepted"],
)  # fmt: skip
def test_what_happens_on_the_ground_is_applied_and_keeps_the_citys_level(event: str) -> None:
    held = Held(Owner.CITY, 5, HANDOFF_LEVEL)
    d = decide(held, event, 6, 1)
    assert (d.verdict, d.owner, d.city_level) == (Verdict.APPLY, Owner.CITY, HANDOFF_LEVEL)


def test_an_update_older_than_the_one_shown_is_superseded_whoever_owns_it() -> None:
    for owner in Owner:
        assert decide(Held(owner, 9), "alert.acknowledged", 7, 0).verdict == Verdict.SUPERSEDED
        assert decide(Held(owner, 9), "alert.acknowledged", 9, 0).verdict == Verdict.SUPERSEDED


def test_a_first_sight_that_is_a_hand_off_is_the_citys_at_once() -> None:
    d = decide(None, "case.handed_off", 3, HANDOFF_LEVEL)
    assert (d.owner, d.city_level) == (Owner.CITY, HANDOFF_LEVEL)


def test_a_hand_off_that_arrives_late_still_gives_the_item_to_the_city() -> None:
    d = decide(Held(Owner.GATEWAY, 9), "alert.handed_off", 8, HANDOFF_LEVEL)
    assert (d.verdict, d.owner, d.city_level) == (Verdict.SUPERSEDED, Owner.CITY, HANDOFF_LEVEL)
    later = decide(Held(d.owner, 9, d.city_level), "alert.escalated", 10, HANDOFF_LEVEL + 1)
    assert later.verdict == Verdict.CITY_OWNED
