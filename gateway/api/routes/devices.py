"""Devices: the registry (site file + API), bulk CSV import, and unregistered senders."""

from __future__ import annotations

import csv
import io
import threading
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from gateway.api.deps import Admin, Context, Viewer, ensure_covers
from gateway.api.schemas import (
    AlertOut,
    DeviceBody,
    DeviceHistory,
    DeviceOut,
    ImportOut,
    ImportProblem,
    NodeOut,
    Problem,
    StateChangeOut,
    UnregisteredOut,
)
from gateway.errors import DeviceConflict, DeviceNotFound, InvalidDevice
from gateway.places.registry import DeviceRecord
from gateway.places.site import Placement
from gateway.store.records import DeviceState
from sensors.kinds import Kind
from sensors.shared import as_dict

router = APIRouter(prefix="/devices", tags=["devices"])

_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": Problem, "description": "no device with that id"},
    409: {"model": Problem, "description": "id taken, or the device is the site file's"},
    422: {"model": Problem, "description": "the device cannot stand there"},
}
CSV_MAX_BYTES = 2 * 1024 * 1024
CSV_COLUMNS = ("device_id", "kind", "node_id", "name")
_WRITES = threading.Lock()


def _out(
    placement: Placement,
    state: DeviceState | None,
    *,
    is_from_site: bool,
    now: datetime | None = None,
) -> DeviceOut:
    return DeviceOut(
        device_id=placement.device_id,
        kind=placement.kind,
        name=placement.name,
        node_id=placement.node.id,
        mount=placement.mount,
        place=placement.place(),
        location=[NodeOut.of(n) for n in placement.location],
        source="site" if is_from_site else "api",
        last_seen_at=state.last_seen_at if state else None,
        is_online=state.is_online if state else None,
        is_silent=state.is_silent(now) if state and now else None,
        fields=as_dict(state.fields) if state else {},
        clock_skew_s=state.clock_skew_s if state else None,
    )


@router.get("", response_model=list[DeviceOut])
def list_devices(
    context: Context,
    person: Viewer,
    node_id: Annotated[str | None, Query(max_length=64)] = None,
    kind: Kind | None = None,
) -> list[DeviceOut]:
    """Every registered device with where it stands and what it last said."""
    states = context.store.devices.states()
    registry = context.registry
    return [
        _out(
            p,
            states.get(p.device_id),
            is_from_site=registry.is_from_site(p.device_id),
            now=context.now(),
        )
        for p in registry.devices.values()
        if (node_id is None or node_id in p.node_ids())
        and (kind is None or p.kind == kind)
        and person.covers(p.node_ids())
    ]


@router.get("/unregistered", response_model=list[UnregisteredOut])
def list_unregistered(
    context: Context, admin: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[UnregisteredOut]:
    """Devices that sent messages but are not in the registry, most recent first."""
    return [
        UnregisteredOut(
            device_id=s.device_id,
            adapter=s.adapter,
            topic=s.topic,
            last_payload=s.last_payload,
            count=s.count,
            first_seen_at=s.first_seen_at,
            last_seen_at=s.last_seen_at,
        )
        for s in context.store.devices.unregistered(limit)
    ]


@router.get("/{device_id}", response_model=DeviceOut, responses={404: _ERRORS[404]})
def get_device(context: Context, person: Viewer, device_id: str) -> DeviceOut:
    placement = context.registry.placement(device_id)
    if placement is None:
        raise DeviceNotFound(device_id)
    ensure_covers(person, placement.node_ids(), f"device {device_id}")
    state = context.store.devices.state(device_id)
    return _out(
        placement, state, is_from_site=context.registry.is_from_site(device_id), now=context.now()
    )


@router.get("/{device_id}/history", response_model=DeviceHistory, responses={404: _ERRORS[404]})
def device_history(
    context: Context,
    person: Viewer,
    device_id: str,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeviceHistory:
    """The device's recent state changes and alerts, newest first."""
    placement = context.registry.placement(device_id)
    if placement is None:
        raise DeviceNotFound(device_id)
    ensure_covers(person, placement.node_ids(), f"device {device_id}")
    return DeviceHistory(
        device_id=device_id,
        changes=[
            StateChangeOut(at=c.at, state=c.state)
            for c in context.store.devices.history(device_id, limit)
        ],
        alerts=[
            AlertOut.of(a) for a in context.store.alerts.find(device_id=device_id, limit=limit)
        ],
    )


def _save(context: Context, records: list[DeviceRecord], *, replacing: bool) -> list[Placement]:
    with _WRITES:  # check and save as one step, so two requests cannot take the same id
        placements = [context.registry.check(r, replacing=replacing) for r in records]
        context.store.devices.save(records, context.now())
        context.registry.put(placements)
    return placements


@router.post("", response_model=DeviceOut, status_code=201, responses=_ERRORS)
def create_device(context: Context, admin: Admin, body: DeviceBody) -> DeviceOut:
    """Add a device to a node of the site's hierarchy."""
    record = DeviceRecord(body.device_id, body.kind, body.node_id, body.name)
    (placement,) = _save(context, [record], replacing=False)
    return _out(placement, None, is_from_site=False)


@router.put("/{device_id}", response_model=DeviceOut, responses=_ERRORS)
def put_device(context: Context, admin: Admin, device_id: str, body: DeviceBody) -> DeviceOut:
    """Add or replace a device (not one the site file declares)."""
    if body.device_id != device_id:
        raise InvalidDevice(device_id, f"body says device_id {body.device_id!r}")
    record = DeviceRecord(device_id, body.kind, body.node_id, body.name)
    (placement,) = _save(context, [record], replacing=True)
    return _out(placement, context.store.devices.state(device_id), is_from_site=False)


@router.delete("/{device_id}", status_code=204, responses=_ERRORS)
def delete_device(context: Context, admin: Admin, device_id: str) -> Response:
    with _WRITES:
        context.registry.remove(device_id)
        context.store.devices.delete(device_id)
    return Response(status_code=204)


@router.post(
    "/import",
    response_model=ImportOut,
    responses={422: {"model": ImportOut, "description": "rows that cannot be imported"}},
)
def import_devices(
    context: Context,
    admin: Admin,
    response: Response,
    body: Annotated[
        str,
        Body(
            media_type="text/csv",
            max_length=CSV_MAX_BYTES,
            description="CSV with a header: device_id,kind,node_id,name (name optional)",
        ),
    ],
) -> ImportOut:
    """Bulk import from CSV: all rows or none. Existing API devices are replaced."""
    reader = csv.DictReader(io.StringIO(body))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in CSV_COLUMNS[:3] if c not in header]
    if missing:
        response.status_code = 422
        return ImportOut(
            imported=0, problems=[ImportProblem(line=1, reason=f"missing columns {missing}")]
        )
    records: list[DeviceRecord] = []
    problems: list[ImportProblem] = []
    seen: set[str] = set()
    for row in reader:
        line = reader.line_num
        clean = {k.strip(): (v or "").strip() for k, v in row.items() if isinstance(k, str)}
        device_id = clean.get("device_id", "")
        try:
            kind = Kind(clean.get("kind", ""))
            record = DeviceRecord(
                device_id, kind, clean.get("node_id", ""), clean.get("name") or None
            )
            if device_id in seen:
                raise DeviceConflict(device_id, "appears twice in the file")
            context.registry.check(record, replacing=True)
        except ValueError:
            problems.append(ImportProblem(line=line, reason=f"unknown kind {clean.get('kind')!r}"))
            continue
        except (InvalidDevice, DeviceConflict) as exc:
            problems.append(ImportProblem(line=line, reason=str(exc)))
            continue
        seen.add(device_id)
        records.append(record)
    if problems:
        response.status_code = 422
        return ImportOut(imported=0, problems=problems)
    _save(context, records, replacing=True)
    return ImportOut(imported=len(records), problems=[])
