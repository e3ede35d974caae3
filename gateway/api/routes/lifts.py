"""Lifts: every lift monitor of the site, with the lift's state as a grid leader reads it.

    GET /lifts                          in site order (the dashboard groups them by building)
    GET /lifts?state=trapped            only lifts with passengers trapped
    GET /lifts?node_id=b1               only the lifts of building b1 (or of any node above)

The state is read from the monitor's last report (sensors/kinds.py, kind `lift`), the
most urgent first: trapped, out of service, stopped between floors, in service. The
alerts for them come from the lift rules (rules/defaults/lifts.yaml), which hold some of
these states for a while first; this answer says what the lift reports now.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from gateway.api.deps import Context, Viewer, visible_devices
from gateway.api.schemas import LiftOut, LiftState
from gateway.store.records import DeviceState
from sensors.kinds import Kind

router = APIRouter(prefix="/lifts", tags=["lifts"])


def lift_state(device: DeviceState | None, now: datetime) -> LiftState:
    if device is None:
        return LiftState.UNKNOWN
    if device.is_online is False:
        return LiftState.OFFLINE
    fields = device.fields
    if device.is_silent(now) or "trapped" not in fields:
        # a lift gone silent may hold trapped passengers: never say it is in service
        return LiftState.UNKNOWN
    if fields["trapped"] is True:
        return LiftState.TRAPPED
    if fields.get("in_service") is False:
        return LiftState.OUT_OF_SERVICE
    if fields.get("moving") is False and fields.get("at_floor") is False:
        return LiftState.STOPPED_BETWEEN_FLOORS
    return LiftState.IN_SERVICE


def _lift(device: DeviceState | None, now: datetime) -> dict[str, object]:
    """The answer's fields from the monitor's report (None: not reported)."""
    state = lift_state(device, now)
    fields = device.fields if device is not None else {}
    floor, moving, door_open, fault = (
        fields.get(name) for name in ("floor", "moving", "door_open", "fault_code")
    )
    return {
        "state": state,
        "floor": floor if isinstance(floor, int) and not isinstance(floor, bool) else None,
        "is_moving": moving if isinstance(moving, bool) else None,
        "is_door_open": door_open if isinstance(door_open, bool) else None,
        "fault_code": fault if isinstance(fault, str) and fault else None,
        "trapped_since": (
            device.changed_at if device is not None and state == LiftState.TRAPPED else None
        ),
    }


@router.get("", response_model=list[LiftOut])
def list_lifts(
    context: Context,
    person: Viewer,
    state: Annotated[LiftState | None, Query(description="only lifts in this state")] = None,
    node_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[LiftOut]:
    """In site order, the lifts of the nodes the person covers."""
    now = context.now()
    out = []
    for placement, device in visible_devices(context, person, Kind.LIFT, node_id):
        lift = LiftOut(**LiftOut.fields_of(placement, device), **_lift(device, now))
        if state is None or lift.state == state:
            out.append(lift)
    return out
