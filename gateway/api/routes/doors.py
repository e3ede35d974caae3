"""Doors: every door sensor of the site with its state and since when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gateway.api.deps import Context, Viewer
from gateway.api.schemas import DoorOut, NodeOut
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
    states = context.store.devices.states()
    now = context.now()
    out = []
    for placement in context.registry.devices.values():
        if placement.kind != Kind.DOOR:
            continue
        if node_id is not None and node_id not in placement.node_ids():
            continue
        if not person.covers(placement.node_ids()):
            continue
        device = states.get(placement.device_id)
        door = device.door_state(now) if device is not None else DoorState.UNKNOWN
        if state is not None and door != state:
            continue
        out.append(
            DoorOut(
                device_id=placement.device_id,
                name=placement.name,
                mount=placement.mount,
                place=placement.place(),
                location=[NodeOut.of(n) for n in placement.location],
                state=door,
                since=device.changed_at if device is not None else None,
                last_seen_at=device.last_seen_at if device is not None else None,
            )
        )
    return out
