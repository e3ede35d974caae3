"""What each incident does to its sensor, as instants and values: the scenario's physics.

Both the behaviour (which turns these into messages) and the ground truth (which reads
the rules' meaning into them) ask this module, so they cannot disagree on what happened.
Times are whole milliseconds after the run's start.

    door_left_open    open at T, re-reported open 3 times, closed at T+D
    door_forced       open at T, closed at T+D (a few seconds, in the quiet hours)
    door_flapping     `count` open/close cycles spread over D, each open half a cycle
    elderly_inactive  one opening at T (5 s), then no opening until T+D
    smoke/gas/water_leak  true at T, false at T+D
    flood             level_cm 5.5, 11, ... 66 in 12 reports over D, 0 at T+D (pumped out)
    battery_drain     battery 31, 29, ... 9 % in 12 reports over D; it stays low
    offline           availability offline at T, silent, online at T+D
    lift_trapped      the car stops between floors with passengers inside at T (trapped),
                      is levelled and the passengers freed at T+D
    lift_stopped      the car stops between floors at T, nobody inside; level again at T+D
"""

from __future__ import annotations

from simulator.scenario import IncidentKind, StagedIncident

LEFT_OPEN_REPORTS = 3
ELDERLY_OPEN_MS = 5000
SCHEDULE_REPORTS = 12
FLOOD_PEAK_CM = 66.0
BATTERY_FROM_PCT = 31.0
BATTERY_STEP_PCT = 2.0
STOPPED_AT_FLOOR = 5  # the floor a stopped car last passed

DOOR_INCIDENTS = frozenset(
    {
        IncidentKind.DOOR_LEFT_OPEN,
        IncidentKind.DOOR_FORCED,
        IncidentKind.DOOR_FLAPPING,
        IncidentKind.ELDERLY_INACTIVE,
    }
)
ON_OFF_INCIDENTS = frozenset({IncidentKind.SMOKE, IncidentKind.GAS, IncidentKind.WATER_LEAK})
LIFT_INCIDENTS = frozenset({IncidentKind.LIFT_TRAPPED, IncidentKind.LIFT_STOPPED})
# incidents during which the device's ordinary traffic stops
CLEARS_TRAFFIC = DOOR_INCIDENTS | {IncidentKind.OFFLINE}


def door_openings(incident: StagedIncident) -> list[tuple[int, int]]:
    """(open_ms, close_ms) of each opening a door incident makes."""
    at, end = incident.at_ms, incident.end_ms
    if incident.kind == IncidentKind.DOOR_FLAPPING:
        step = (end - at) / incident.count
        return [
            (at + round(k * step), at + round(k * step + step / 2)) for k in range(incident.count)
        ]
    if incident.kind == IncidentKind.ELDERLY_INACTIVE:
        return [(at, at + min(ELDERLY_OPEN_MS, (end - at) // 2))]
    if incident.kind in DOOR_INCIDENTS:
        return [(at, end)]
    return []


def _report_ms(incident: StagedIncident) -> list[int]:
    step = (incident.end_ms - incident.at_ms) / SCHEDULE_REPORTS
    return [incident.at_ms + round(k * step) for k in range(SCHEDULE_REPORTS)]


def flood_levels(incident: StagedIncident) -> list[tuple[int, float]]:
    """(ms, level_cm): rising to the peak, then 0 at the end."""
    rising = [
        (ms, round(FLOOD_PEAK_CM * (k + 1) / SCHEDULE_REPORTS, 1))
        for k, ms in enumerate(_report_ms(incident))
    ]
    return [*rising, (incident.end_ms, 0.0)]


def battery_levels(incident: StagedIncident) -> list[tuple[int, float]]:
    """(ms, battery %): falling in steps that never land on a round threshold."""
    return [
        (ms, BATTERY_FROM_PCT - BATTERY_STEP_PCT * k) for k, ms in enumerate(_report_ms(incident))
    ]


def lift_changes(incident: StagedIncident) -> list[tuple[int, dict[str, bool | int]]]:
    """(ms, the lift fields that change): stopped between floors, then level again."""
    is_trapped = incident.kind == IncidentKind.LIFT_TRAPPED
    stopped = {"moving": False, "at_floor": False, "floor": STOPPED_AT_FLOOR}
    if is_trapped:
        stopped["trapped"] = True
    level: dict[str, bool | int] = {"at_floor": True, "trapped": False}
    return [(incident.at_ms, stopped), (incident.end_ms, level)]
