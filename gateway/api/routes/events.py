"""Live changes as Server-Sent Events, scoped like everything else.

    GET /events                      alert changes
    GET /cases/events                case steps (the cases a person sees in GET /cases)
                                     (both: Authorization header, or ?access_token= for
                                     EventSource: the one place the token may be in the URL)
    Last-Event-ID: 41                resume after change 41 (browsers send it on reconnect)

Each alert change is `id: <n>`, `event: alert`, `data: {"action": ..., "alert": {...}}`;
each case step `id: <n>`, `event: case`, `data: {"action": ..., "case": {...}}` with the
case as GET /cases gives it to that person (its light, the steps they may take). The two
streams count their ids apart. A comment line every 15 s keeps idle connections open
through proxies.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from gateway.alerts.notice import alert_json
from gateway.api.deps import AppContext, Context, StreamViewer, case_side
from gateway.api.routes.cases import case_out

router = APIRouter(tags=["events"])

POLL_S = 0.25
HEARTBEAT_S = 15.0

# changes after a cursor, oldest first: (id, data), from a worker thread
Changes = Callable[[int], list[tuple[int, dict[str, Any]]]]


def _resume(
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
    after: Annotated[int | None, Query(ge=0, description="same as Last-Event-ID")] = None,
) -> int | None:
    """The id a client resumes after (`Last-Event-ID`, else `?after=`), if any."""
    return last_event_id if last_event_id is not None else after


Resume = Annotated[int | None, Depends(_resume)]


async def _stream(
    request: Request,
    context: AppContext,
    start: int | None,
    latest: Callable[[], int],
    event: str,
    changes: Changes,
) -> StreamingResponse:
    """`changes` after `start` (None: after the `latest` one there is now), as they are
    written."""
    first = start if start is not None else await asyncio.to_thread(latest)

    async def stream() -> AsyncIterator[str]:
        cursor = first
        idle_s = 0.0
        yield "retry: 2000\n\n"
        while not context.stopping.is_set() and not await request.is_disconnected():
            found = await asyncio.to_thread(changes, cursor)
            for change_id, data in found:
                text = json.dumps(data, ensure_ascii=False)
                yield f"id: {change_id}\nevent: {event}\ndata: {text}\n\n"
                cursor = change_id
            if found:
                idle_s = 0.0
                continue
            await asyncio.sleep(POLL_S)
            idle_s += POLL_S
            if idle_s >= HEARTBEAT_S:
                idle_s = 0.0
                yield ": keep-alive\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _sse(what: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {"text/event-stream": {}}, "description": what}}


@router.get("/events", response_class=StreamingResponse, responses=_sse("alert changes"))
async def events(
    request: Request,
    context: Context,
    person: StreamViewer,
    resume: Resume,
) -> StreamingResponse:
    scope = context.auth.scope(person)
    alerts = context.store.alerts

    def changes(cursor: int) -> list[tuple[int, dict[str, Any]]]:
        return [
            (log_id, {"action": action, "alert": alert_json(alert)})
            for log_id, action, alert in alerts.log_since(cursor, scope)
        ]

    return await _stream(request, context, resume, alerts.last_log_id, "alert", changes)


@router.get("/cases/events", response_class=StreamingResponse, responses=_sse("case steps"))
async def case_events(
    request: Request,
    context: Context,
    person: StreamViewer,
    resume: Resume,
) -> StreamingResponse:
    case_side(context)  # 404 where cases are off, before the stream starts
    scope = context.auth.scope(person)
    cases = context.store.cases

    def changes(cursor: int) -> list[tuple[int, dict[str, Any]]]:
        return [
            (
                entry_id,
                {"action": action, "case": case_out(context, person, case).model_dump(mode="json")},
            )
            for entry_id, action, case in cases.history_since(cursor, scope, person.id)
        ]

    return await _stream(request, context, resume, cases.last_history_id, "case", changes)
