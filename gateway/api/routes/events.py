"""Live alert changes as Server-Sent Events, scoped like everything else.

    GET /events                      (Authorization header, or ?access_token= for EventSource:
                                     the one endpoint that takes the token in the URL)
    Last-Event-ID: 41                resume after change 41 (browsers send it on reconnect)

Each change is `id: <n>`, `event: alert`, `data: {"action": ..., "alert": {...}}`; a comment
line every 15 s keeps idle connections open through proxies.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from gateway.alerts.notice import alert_json
from gateway.api.deps import Context, StreamViewer

router = APIRouter(tags=["events"])

POLL_S = 0.25
HEARTBEAT_S = 15.0


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "alert changes"}},
)
async def events(
    request: Request,
    context: Context,
    person: StreamViewer,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
    after: Annotated[int | None, Query(ge=0, description="same as Last-Event-ID")] = None,
) -> StreamingResponse:
    scope = context.auth.scope(person)
    start = last_event_id if last_event_id is not None else after
    if start is None:
        start = await asyncio.to_thread(context.store.alerts.last_log_id)

    async def stream() -> AsyncIterator[str]:
        cursor = start
        idle_s = 0.0
        yield "retry: 2000\n\n"
        while not context.stopping.is_set() and not await request.is_disconnected():
            changes = await asyncio.to_thread(context.store.alerts.log_since, cursor, scope)
            for log_id, action, alert in changes:
                data = json.dumps(
                    {"action": action, "alert": alert_json(alert)}, ensure_ascii=False
                )
                yield f"id: {log_id}\nevent: alert\ndata: {data}\n\n"
                cursor = log_id
            if changes:
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
