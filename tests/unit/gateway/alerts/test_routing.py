"""Who is told (gateway/alerts/routing.py): people on duty by role at the given instant,
named people, assignees, channels, residents; one copy per receiver however many routes
and people lead to it; residents' phones in their SMS and nowhere else. Then the shipped
routing files against docs/routing.md, and `gridgate routes test`'s explanation.

Every instant is made here and read in the site's timezone: 02:00 UTC is 10:00 in
Shanghai, 14:00 UTC is 22:00."""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.alerts.routecheck import DescriptionError, alert_from, alert_from_file, explain
from gateway.alerts.routes import (
    DEFAULT_ROUTES,
    DEFAULT_ROUTES_NO_ROSTER,
    Known,
    Routes,
    RoutesFile,
    load_routes,
)
from gateway.alerts.routing import ChannelRef, Entry, Router
from gateway.places.roster import DutyWindow, Person, Role, Roster, load_roster
from gateway.places.site import load_site
from gateway.store.records import Alert
from rules.model import load_rules
from sensors.errors import FileError

REPO = Path(__file__).resolve().parents[4]
SITE = load_site(REPO / "tests" / "fixtures" / "site.two-grids-residents.yaml")
TZ = SITE.timezone  # Asia/Shanghai
RULES = load_rules(REPO / "rules" / "defaults")
RESIDENTS = SITE.resident_phones["b1-u1"]  # ("13900000011", "13900000012")
DAY = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai
NIGHT = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # Tuesday 22:00 in Shanghai

CHANNELS = [
    ChannelRef("webhook", "ops"),
    ChannelRef("webhook", "city"),
    ChannelRef("sms", "sms"),
    ChannelRef("wecom", "grid-wecom"),
    ChannelRef("dingtalk", "grid-ding"),
    ChannelRef("mqtt", "upstream"),
]


def person(
    person_id: str,
    role: Role,
    node: str,
    phone: str,
    *channels: str,
    duty: tuple[str, str] | None = None,
) -> Person:
    hours = () if duty is None else (DutyWindow.model_validate({"from": duty[0], "to": duty[1]}),)
    return Person(person_id, person_id.upper(), role, phone, frozenset({node}), hours, channels)


# the g1 worker works days and is reached by SMS and on the ops webhook; everybody else
# is always on duty
ROSTER = Roster(
    {
        p.id: p
        for p in (
            person(
                "w-g1", Role.GRID_WORKER, "g1", "13800000001", "sms", "ops", duty=("08:00", "20:00")
            ),
            person("l-g1", Role.GRID_LEADER, "g1", "13800000002", "sms"),
            person("w-g2", Role.GRID_WORKER, "g2", "13800000003", "sms"),
            person("c-c1", Role.COMMUNITY, "c1", "13800000004", "grid-wecom"),
            person("s-s1", Role.STREET, "s1", "13800000005", "grid-wecom"),
        )
    }
)


def router(
    routes: Path | str,
    roster: Roster = ROSTER,
    tmp_path: Path | None = None,
    channels: list[ChannelRef] = CHANNELS,
) -> Router:
    """A router over a shipped file (a path) or a routing file's text, checked as at start."""
    if isinstance(routes, str):
        assert tmp_path is not None
        path = tmp_path / "routes.yaml"
        path.write_text(textwrap.dedent(routes), encoding="utf-8")
        routes = path
    known = Known(SITE, roster, {c.name: c.type for c in channels}, {r.id for r in RULES.rules})
    return Router(
        routes=load_routes(routes, known),
        channels=channels,
        roster=roster,
        tz=TZ,
        resident_phones=SITE.resident_phones,
    )


def alert(
    device: str = "door-b1-u1",
    rule: str = "door_left_open",
    *,
    level: int = 0,
    assigned_to: str | None = None,
) -> Alert:
    """An alert as the shipped rule `rule` raises it for `device` (its severity, its place)."""
    return alert_from(
        SITE,
        RULES,
        device_id=device,
        rule_id=rule,
        at=DAY,
        escalation_level=level,
        assigned_to=assigned_to,
    )


def told(entries: list[Entry]) -> list[str]:
    """Each message as `channel target -> whom`: people's ids, `residents`, or `-` for a
    plain copy to the channel."""

    def whom(entry: Entry) -> str:
        if entry.body.get("audience") == "residents":
            return "residents"
        return ", ".join(entry.people) or "-"

    return sorted(f"{e.channel} {e.target} -> {whom(e)}" for e in entries)


def route(
    routes: str,
    tmp_path: Path,
    event: str = "alert.raised",
    at: datetime = DAY,
    *,
    device: str = "door-b1-u1",
    level: int = 0,
    assigned_to: str | None = None,
) -> list[str]:
    """Who `routes` (a routing file's text) tells of `event` of a door_left_open alert."""
    made = alert(device, level=level, assigned_to=assigned_to)
    return told(router(routes, tmp_path=tmp_path)(made, event, at))


LADDER = "routes: [{name: on duty, notify: [{on_duty: ladder}]}]"


# ---- people on duty, by role, at the given instant ----------------------------------------


def test_the_ladder_tells_the_grid_worker_on_duty(tmp_path: Path) -> None:
    assert route(LADDER, tmp_path, at=DAY) == ["sms sms -> w-g1", "webhook ops -> w-g1"]


def test_with_the_grid_worker_off_duty_the_ladder_climbs_to_the_grid_leader(
    tmp_path: Path,
) -> None:
    assert route(LADDER, tmp_path, at=NIGHT) == ["sms sms -> l-g1"]


def test_an_escalation_starts_one_level_up_the_ladder(tmp_path: Path) -> None:
    assert route(LADDER, tmp_path, "alert.escalated", DAY, level=1) == ["sms sms -> l-g1"]
    assert route(LADDER, tmp_path, "alert.escalated", DAY, level=2) == ["wecom grid-wecom -> c-c1"]


def test_the_ladder_tells_the_people_of_the_alerts_own_grid(tmp_path: Path) -> None:
    assert route(LADDER, tmp_path, device="door-b2-u1") == ["sms sms -> w-g2"]


def test_duty_hours_are_the_sites_local_time_whatever_the_instants_offset(
    tmp_path: Path,
) -> None:
    ten_in_shanghai = datetime.fromisoformat("2026-12-01T10:00:00+08:00")
    assert ten_in_shanghai == DAY
    assert route(LADDER, tmp_path, at=ten_in_shanghai) == route(LADDER, tmp_path, at=DAY)
    just_off = datetime.fromisoformat("2026-12-01T20:00:00+08:00")  # `to` is off duty
    assert route(LADDER, tmp_path, at=just_off) == ["sms sms -> l-g1"]


def test_one_role_is_told_when_on_duty_and_nobody_else_is_tried(tmp_path: Path) -> None:
    workers = "routes: [{name: workers, notify: [{on_duty: grid_worker}]}]"
    assert route(workers, tmp_path, at=DAY) == ["sms sms -> w-g1", "webhook ops -> w-g1"]
    assert route(workers, tmp_path, at=NIGHT) == []  # no climbing to the leader


# ---- named people, assignees, channels -------------------------------------------------


def test_named_people_are_told_whatever_their_duty_hours(tmp_path: Path) -> None:
    named = "routes: [{name: named, notify: [{people: [w-g1]}]}]"
    assert route(named, tmp_path, at=NIGHT) == ["sms sms -> w-g1", "webhook ops -> w-g1"]


def test_the_assignee_is_told_on_their_own_channels(tmp_path: Path) -> None:
    assignee = "routes: [{name: assignee, notify: [{assignee: true}]}]"
    assert route(assignee, tmp_path, "alert.assigned", assigned_to="c-c1") == [
        "wecom grid-wecom -> c-c1"
    ]
    assert route(assignee, tmp_path, "alert.assigned") == []  # nobody assigned


def test_a_channel_by_name_gets_a_copy_and_a_type_names_every_channel_of_it(
    tmp_path: Path,
) -> None:
    assert route("routes: [{name: x, notify: [{channels: [city]}]}]", tmp_path) == [
        "webhook city -> -"
    ]
    assert route("routes: [{name: x, notify: [{channels: [webhook, mqtt]}]}]", tmp_path) == [
        "mqtt upstream -> -",
        "webhook city -> -",
        "webhook ops -> -",
    ]


def test_a_message_to_people_dispatches_the_alert_and_a_plain_copy_does_not(
    tmp_path: Path,
) -> None:
    routes = """
        routes:
          - {name: copies, notify: [{channels: [city]}], continue: true}
          - {name: people, notify: [{people: [c-c1]}]}
    """
    entries = router(routes, tmp_path=tmp_path)(alert(), "alert.raised", DAY)
    assert {e.target: e.is_dispatch for e in entries} == {"city": False, "grid-wecom": True}


def test_an_inhibited_alert_is_not_routed() -> None:
    covered = replace(alert(), is_inhibited=True)  # its building went dark: one alert for it
    assert router(DEFAULT_ROUTES)(covered, "alert.raised", DAY) == []


# ---- one copy per receiver ------------------------------------------------------------

INTEGRATIONS_AND_LADDER = """
    routes:
      - name: integrations
        match: {event: [raised, cleared]}
        notify: [{channels: [webhook]}]
        continue: true
      - name: on duty
        notify: [{on_duty: ladder}]
"""


def test_a_webhook_that_is_also_a_persons_channel_gets_one_copy_naming_the_person(
    tmp_path: Path,
) -> None:
    entries = router(INTEGRATIONS_AND_LADDER, tmp_path=tmp_path)(alert(), "alert.raised", DAY)
    [ops] = [e for e in entries if e.target == "ops"]
    assert ops.people == ("w-g1",)
    assert [r["person_id"] for r in ops.body["recipients"]] == ["w-g1"]
    assert ops.routes == ("integrations", "on duty")
    assert told(entries) == ["sms sms -> w-g1", "webhook city -> -", "webhook ops -> w-g1"]


def test_routes_naming_the_same_channel_make_one_copy(tmp_path: Path) -> None:
    routes = """
        routes:
          - {name: by name, notify: [{channels: [ops]}], continue: true}
          - {name: by type, notify: [{channels: [webhook]}], continue: true}
          - {name: again, notify: [{channels: [ops, ops]}]}
    """
    entries = router(routes, tmp_path=tmp_path)(alert(), "alert.raised", DAY)
    assert told(entries) == ["webhook city -> -", "webhook ops -> -"]
    [ops] = [e for e in entries if e.target == "ops"]
    assert ops.routes == ("by name", "by type", "again")


def test_people_sharing_a_group_chat_get_one_message_naming_them_all(tmp_path: Path) -> None:
    routes = """
        routes:
          - {name: community, notify: [{on_duty: community}], continue: true}
          - {name: street, notify: [{people: [s-s1, c-c1]}]}
    """
    assert route(routes, tmp_path) == ["wecom grid-wecom -> c-c1, s-s1"]


def test_each_person_gets_an_sms_of_their_own_once(tmp_path: Path) -> None:
    routes = """
        routes:
          - {name: ladder, notify: [{on_duty: ladder}], continue: true}
          - {name: named, notify: [{people: [w-g1, l-g1]}]}
    """
    entries = router(routes, tmp_path=tmp_path)(alert(), "alert.raised", DAY)
    texts = [e for e in entries if e.channel == "sms"]
    assert [e.people for e in texts] == [("w-g1",), ("l-g1",)]
    assert [len(e.body["recipients"]) for e in texts] == [1, 1]
    assert len({e.idempotency_key for e in entries}) == len(entries)


# ---- residents: by SMS, and nowhere else -----------------------------------------------

RESIDENTS_AND_EVERY_CHANNEL = """
    routes:
      - name: every channel
        notify: [{channels: [webhook, wecom, dingtalk, mqtt]}, {on_duty: ladder}]
        continue: true
      - name: residents
        match: {rule: door_left_open}
        notify: [{residents: sms}]
"""


def test_residents_get_one_sms_to_their_units_phones(tmp_path: Path) -> None:
    entries = router(RESIDENTS_AND_EVERY_CHANNEL, tmp_path=tmp_path)(alert(), "alert.raised", DAY)
    [texts] = [e for e in entries if e.body.get("audience") == "residents"]
    assert (texts.channel, texts.target) == ("sms", "sms")
    assert tuple(r["phone"] for r in texts.body["recipients"]) == RESIDENTS
    assert not texts.is_dispatch  # residents are told, not dispatched to


def test_residents_phones_appear_in_no_other_message(tmp_path: Path) -> None:
    entries = router(RESIDENTS_AND_EVERY_CHANNEL, tmp_path=tmp_path)(alert(), "alert.raised", DAY)
    others = [e for e in entries if e.body.get("audience") != "residents"]
    assert {e.channel for e in others} == {"webhook", "wecom", "dingtalk", "mqtt", "sms"}
    for entry in others:
        body = json.dumps(entry.body, ensure_ascii=False)
        assert not [phone for phone in RESIDENTS if phone in body], entry


def test_a_routing_tree_sending_residents_elsewhere_still_sends_no_phone(tmp_path: Path) -> None:
    # load_routes refuses this file (test_routes.py); the router holds the line on its own
    tree = RoutesFile.model_validate(
        {"routes": [{"name": "leak", "notify": [{"residents": "ops"}, {"residents": "webhook"}]}]}
    ).routes
    unchecked = router(LADDER, tmp_path=tmp_path)
    unchecked.replace_routes(Routes(tmp_path / "unchecked.yaml", tree))
    assert unchecked(alert(), "alert.raised", DAY) == []


def test_a_unit_without_resident_phones_sends_no_resident_sms(tmp_path: Path) -> None:
    residents = "routes: [{name: residents, notify: [{residents: sms}]}]"
    assert route(residents, tmp_path, device="door-b1-u2") == []
    assert route(residents, tmp_path) == ["sms sms -> residents"]


# ---- the shipped routing, as docs/routing.md describes it --------------------------------

WEBHOOKS = ["webhook city -> -", "webhook ops -> -"]


def shipped(
    device: str,
    rule: str,
    event: str = "alert.raised",
    at: datetime = DAY,
    *,
    level: int = 0,
    assigned_to: str | None = None,
) -> list[str]:
    made = alert(device, rule, level=level, assigned_to=assigned_to)
    return told(router(DEFAULT_ROUTES)(made, event, at))


def shipped_without_roster(device: str, rule: str, event: str = "alert.raised") -> list[str]:
    made = alert(device, rule)
    return told(router(DEFAULT_ROUTES_NO_ROSTER, Roster.empty())(made, event, DAY))


def test_shipped_door_left_open_goes_to_webhooks_residents_and_the_worker_on_duty() -> None:
    assert shipped("door-b1-u1", "door_left_open") == [
        "sms sms -> residents",
        "sms sms -> w-g1",
        "webhook city -> -",
        "webhook ops -> w-g1",  # the integrations' copy, naming the worker it also is for
    ]


def test_shipped_clear_goes_to_webhooks_only() -> None:
    assert shipped("door-b1-u1", "door_left_open", "alert.cleared") == WEBHOOKS


def test_shipped_residents_are_told_only_of_a_door_left_open() -> None:
    assert "sms sms -> residents" not in shipped("door-b1-u1", "door_flapping")
    assert "sms sms -> residents" not in shipped("door-b1-u1", "door_forced_at_night")
    assert "sms sms -> residents" not in shipped("door-b1-u1", "door_left_open", "alert.reminded")


def test_shipped_smoke_goes_to_webhooks_and_up_the_ladder_at_night() -> None:
    assert shipped("smoke-b1-u1", "smoke_detected", at=NIGHT) == [
        "sms sms -> l-g1",
        *WEBHOOKS,
    ]


def test_shipped_lift_trapped_reaches_the_worker_then_escalates_to_the_leader() -> None:
    assert shipped("lift-b1-u1", "lift_trapped") == [
        "sms sms -> w-g1",
        "webhook city -> -",
        "webhook ops -> w-g1",
    ]
    # an escalation is for people: no integrations copy, one level up the ladder
    assert shipped("lift-b1-u1", "lift_trapped", "alert.escalated", level=1) == ["sms sms -> l-g1"]
    assert shipped("lift-b1-u1", "lift_trapped", "alert.reminded") == [
        "sms sms -> w-g1",
        "webhook ops -> w-g1",
    ]


def test_shipped_assigned_alert_goes_to_its_assignee() -> None:
    assert shipped("door-b1-u1", "door_left_open", "alert.assigned", assigned_to="w-g2") == [
        "sms sms -> w-g2"
    ]


@pytest.mark.parametrize("event", ["alert.acknowledged", "alert.resolved", "alert.closed"])
def test_shipped_routing_tells_nobody_of_a_persons_own_action(event: str) -> None:
    assert shipped("door-b1-u1", "door_left_open", event) == []


GROUPS = ["dingtalk grid-ding -> -", "mqtt upstream -> -", "wecom grid-wecom -> -"]


def test_shipped_without_roster_a_door_left_open_goes_to_webhooks_residents_and_groups() -> None:
    assert shipped_without_roster("door-b1-u1", "door_left_open") == sorted(
        ["sms sms -> residents", *WEBHOOKS, *GROUPS]
    )


@pytest.mark.parametrize(
    ("device", "rule"), [("smoke-b1-u1", "smoke_detected"), ("lift-b1-u1", "lift_trapped")]
)
def test_shipped_without_roster_hazards_go_to_webhooks_and_groups(device: str, rule: str) -> None:
    assert shipped_without_roster(device, rule) == sorted([*WEBHOOKS, *GROUPS])
    assert shipped_without_roster(device, rule, "alert.cleared") == sorted([*WEBHOOKS, *GROUPS])
    assert shipped_without_roster(device, rule, "alert.escalated") == []  # nobody to climb to


# ---- `gridgate routes test` ------------------------------------------------------------


def test_routes_test_says_which_route_decided_and_who_is_told_with_phones_masked() -> None:
    lines = explain(router(DEFAULT_ROUTES), alert(), "raised", DAY, TZ)
    assert lines[0] == (
        "alert.raised of door_left_open (warning) at 光明社区 / 第1网格 / 1号楼 / 1单元 / 单元门, "
        "2026-12-01 10:00 CST"
    )
    assert lines[2] == (
        "routes that match, in order: integrations -> channels; residents -> residents; "
        "on duty -> on_duty"
    )
    worker = ROSTER.people["w-g1"].phone
    assert worker is not None
    masked = f"{worker[:3]}****{worker[-4:]}"
    assert sorted(lines[3:]) == [
        f"  sms sms: W-G1 (w-g1, {masked}) [dispatches the alert]  <- route on duty",
        "  sms sms: residents of the unit (139****0011, 139****0012)  <- route residents",
        "  webhook city: the channel itself (no person named)  <- route integrations",
        f"  webhook ops: W-G1 (w-g1, {masked}) [dispatches the alert]"
        "  <- route integrations + on duty",
    ]
    assert not [p for p in (*RESIDENTS, worker) if p in "\n".join(lines)]


def test_routes_test_says_when_no_route_matches() -> None:
    lines = explain(router(DEFAULT_ROUTES), alert(), "acknowledged", DAY, TZ)
    assert lines[2:] == ["no route matches: nobody is told"]


def test_routes_test_refuses_an_alert_file_that_does_not_say_when(tmp_path: Path) -> None:
    described = tmp_path / "alert.json"
    door = {"device_id": "door-b1-u1", "rule": "door_left_open"}
    described.write_text(json.dumps(door))
    with pytest.raises(DescriptionError, match="no raised_at with an offset: give --at"):
        alert_from_file(described, SITE, RULES, None)
    described.write_text(json.dumps({"alert": {**door, "raised_at": "2026-12-01T10:00:00"}}))
    with pytest.raises(DescriptionError, match="has no offset"):
        alert_from_file(described, SITE, RULES, None)
    assert alert_from_file(described, SITE, RULES, DAY).raised_at == DAY  # --at says when


def test_residents_get_one_sms_even_where_two_sms_channels_are_configured(
    tmp_path: Path,
) -> None:
    two = [ChannelRef("webhook", "ops"), ChannelRef("sms", "aliyun"), ChannelRef("sms", "backup")]
    residents = "routes: [{name: residents, notify: [{residents: sms}]}]"
    entries = router(residents, tmp_path=tmp_path, channels=two)(alert(), "alert.raised", DAY)
    assert told(entries) == ["sms aliyun -> residents"]  # the first, as for a person


def refused_roster(tmp_path: Path, text: str) -> str:
    """The one line a roster file of `text` is refused with, `<roster>` for its path."""
    roster = tmp_path / "roster.yaml"
    roster.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    with pytest.raises(FileError) as refused:
        load_roster(roster, SITE)
    return str(refused.value).replace(str(roster), "<roster>")


def test_no_person_may_take_the_id_routing_gives_a_units_residents(tmp_path: Path) -> None:
    # a person `residents` would share the residents' text: never told, and the residents'
    # SMS would dispatch the alert to them
    refused = refused_roster(
        tmp_path,
        """
        people:
          - {id: w-g1, name: 王芳, role: grid_worker, nodes: [g1]}
          - id: residents
            name: 住户
            role: grid_worker
            nodes: [g1]
        """,
    )
    assert refused.startswith("<roster>:3: people[1].id: Value error, 'residents' is what"), refused


def test_routes_test_masks_a_short_phone_number_too(tmp_path: Path) -> None:
    # a roster may list 5 to 15 digits: a 7-digit number kept its 3 + 4 visible, all of it
    short = replace(ROSTER.people["l-g1"], phone="8001234")
    roster = Roster({**ROSTER.people, "l-g1": short})
    lines = explain(router(LADDER, roster, tmp_path), alert(), "raised", NIGHT, TZ)
    assert lines[3:] == ["  sms sms: L-G1 (l-g1, ****) [dispatches the alert]  <- route on duty"]


def test_duty_hours_written_without_quotes_are_refused_at_their_line(tmp_path: Path) -> None:
    # unquoted, YAML reads 20:00 as 1200: 00:20 UTC, and the ladder raised on comparing it
    refused = refused_roster(
        tmp_path,
        """
        people:
          - id: w-g1
            name: 王芳
            role: grid_worker
            nodes: [g1]
            duty: [{from: "08:00", to: 20:00}]
        """,
    )
    assert refused.startswith("<roster>:6: "), refused
    assert 'write the time in quotes ("22:00"): unquoted, YAML reads it as 1200' in refused
