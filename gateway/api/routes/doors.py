"""Doors: every door sensor of the site with its state and since when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gateway.api.deps import Context, Viewer, visible_devices
from gateway.api.schemas import DoorOut
from gateway.store.records import DoorState
from sensors.kinds import Kind

router = APIRouter(prefix="/doors", tags=["doors"])


@router.get("", response_model=list[DoorOut])
def list_doors(
    context: Context,
    person: Viewer,
    state: Annotated[DoorState | None, Query(description="only doors in this state")] = None,
    node_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[DoorOut]:
    """In site order: unit doors and compound gates."""
    now = context.now()
    out = []
    for placement, device in visible_devices(context, person, Kind.DOOR, node_id):
        door = device.door_state(now) if device is not None else DoorState.UNKNOWN
        if state is not None and door != state:
            continue
        out.append(
            DoorOut(
                **DoorOut.fields_of(placement, device),
                state=door,
                since=device.changed_at if device is not None else None,
            )
        )
    return out
