"""A building gone silent at once: one node alert, its devices' alerts inhibited."""

from __future__ import annotations

from rulekit import SHANGHAI, T0, brief, place, reading, rule_set, seconds

from rules.engine import Engine
from rules.model import DEFAULT_RULES, NodeOfflineRule, load_rules
from rules.replay import replay, run_until
from rules.tracks import AlertEvent, EventType
from sensors.kinds import KINDS, Kind

RULES = rule_set(
    {"id": "offline", "when": "absence", "silent_s": 600},
    {
        "id": "building_offline",
        "when": "node_offline",
        "of": "offline",
        "level": "building",
        "share": 0.75,
        "min_devices": 2,
        "within_s": 120,
        "message": {"zh": "{building}{count}/{total}台设备离线", "en": "{building} offline"},
    },
)
DEVICES = [f"d{i}" for i in range(4)]
WHERE = {d: place(d, unit=f"u{i}") for i, d in enumerate(DEVICES)} | {
    "x": place("x", building="b2")
}


def seen(e: Engine, device: str, offset_s: float) -> list[AlertEvent]:
    at = T0 + seconds(offset_s)
    return e.observe(reading(device, Kind.DOOR, at, battery=90.0), at)


def test_building_silent_at_once_raises_one_node_alert_and_inhibits_device_alerts() -> None:
    e = Engine(RULES, SHANGHAI, WHERE)
    e.tick(T0)
    for i, d in enumerate(DEVICES):
        seen(e, d, i * 20)  # last reports 20 s apart; all silent after
    seen(e, "x", 0)
    for offset in range(600, 1000, 200):
        seen(e, "x", offset)  # the other building keeps reporting

    events = run_until(e, T0, T0 + seconds(1000))

    node = [ev for ev in events if ev.node_id is not None]
    assert brief(node) == [("raised", "building_offline", "b1")]
    assert node[0].message_zh == "1号楼3/4台设备离线"
    assert node[0].due_at == T0 + seconds(640)  # the third device went silent
    devices = [ev for ev in events if ev.node_id is None]
    assert sorted(ev.subject_id for ev in devices) == DEVICES
    assert all(ev.is_inhibited for ev in devices)

    # power back: the building clears; devices clear (inhibited, like their raise)
    back = seen(e, "d0", 1100) + seen(e, "d1", 1101)
    assert ("cleared", "building_offline", "b1") in brief(back)
    assert all(ev.is_inhibited for ev in back if ev.node_id is None)


def test_a_single_silent_device_alerts_on_its_own_after_the_wait() -> None:
    e = Engine(RULES, SHANGHAI, WHERE)
    e.tick(T0)
    for d in DEVICES:
        seen(e, d, 0)
    for offset in range(300, 1200, 300):
        for d in DEVICES[1:]:
            seen(e, d, offset)

    events = run_until(e, T0, T0 + seconds(800))

    [raised] = [ev for ev in events if ev.subject_id == "d0"]
    assert (raised.type, raised.subject_id, raised.is_inhibited) == (EventType.RAISED, "d0", False)
    assert raised.at == T0 + seconds(720)  # silent at 600, waited within_s for its building
    assert raised.due_at == T0 + seconds(600)


# ---- the shipped rules (rules/defaults/health.yaml): device_offline, building_offline ----

SHIPPED = load_rules(DEFAULT_RULES)
BUILDING_OFFLINE = next(r for r in SHIPPED.rules if isinstance(r, NodeOfflineRule))
DOOR_SILENT_S = KINDS[Kind.DOOR].offline_after_s or 0


def test_a_building_too_small_to_go_dark_together_raises_its_device_offline_when_due() -> None:
    # b1 has fewer doors than building_offline's min_devices: nothing to wait for;
    # b2 has exactly that many: its silent door waits within_s to see if b2 goes dark
    doors = {"b1": BUILDING_OFFLINE.min_devices - 1, "b2": BUILDING_OFFLINE.min_devices}
    where = {
        f"door-{b}-u{u}": place(f"door-{b}-u{u}", building=b, unit=f"u{u}")
        for b, count in doors.items()
        for u in range(1, count + 1)
    }
    small, big = "door-b1-u1", "door-b2-u1"  # one door of each goes silent
    silent = {small, big}
    end_s = DOOR_SILENT_S + 3 * 3600
    readings = [reading(d, Kind.DOOR, T0, battery=90.0) for d in where] + [
        reading(d, Kind.DOOR, T0 + seconds(s), battery=90.0)
        for s in range(3600, end_s, 3600)
        for d in where
        if d not in silent
    ]

    events = replay(SHIPPED, readings, where, SHANGHAI, start=T0, until=T0 + seconds(end_s))

    raised = {e.subject_id: e for e in events if e.type == EventType.RAISED}
    assert set(raised) == silent  # no building went dark
    due = T0 + seconds(DOOR_SILENT_S)
    assert (raised[small].due_at, raised[small].at) == (due, due)
    assert (raised[big].due_at, raised[big].at) == (
        due,
        due + seconds(BUILDING_OFFLINE.within_s),
    )
    assert not any(e.is_inhibited for e in raised.values())
