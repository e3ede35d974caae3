"""`GET /metrics`: the counters for Prometheus (gateway/api/metrics.py collects them)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS

from gateway.api.metrics import exposition

router = APIRouter(tags=["status"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_PLAIN_0_0_4: {}, OPENMETRICS: {}},
            "description": "Prometheus text format, or OpenMetrics when `Accept` asks for it",
        }
    },
)
def metrics(request: Request) -> Response:
    """Counters, gauges and histograms in the Prometheus text exposition format 0.0.4
    (OpenMetrics 1.0.0 for a scraper that sends `Accept: application/openmetrics-text`)."""
    body, content_type = exposition(request.app.state.metrics, request.headers.get("accept"))
    return Response(content=body, media_type=content_type)
