"""`GET /metrics`: the counters for Prometheus (gateway/runtime/metrics.py renders them)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from gateway.api.deps import Context
from gateway.runtime.metrics import CONTENT_TYPE, render

router = APIRouter(tags=["status"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
def metrics(context: Context) -> Response:
    """Counters and gauges in the Prometheus text exposition format 0.0.4."""
    store = context.store
    text = render(context.health, store.alerts.counts(), store.outbox.depths())
    return Response(content=text, media_type=CONTENT_TYPE)
