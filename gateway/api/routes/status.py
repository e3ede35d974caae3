"""Health and ingest counters."""

from __future__ import annotations

from fastapi import APIRouter, Response

from gateway.api.deps import Admin, Context
from gateway.api.schemas import HealthOut, IngestStatsOut, RejectionOut
from gateway.errors import StoreUnavailable

router = APIRouter(tags=["status"])


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
def health(context: Context, response: Response) -> HealthOut:
    """200 when the broker is connected and the store answers; 503 with reasons otherwise."""
    h = context.health
    reasons = []
    outbox: dict[str, int] = {}
    store_ok = h.store_error is None
    try:
        context.store.ping()
        outbox = context.store.outbox.counts()
    except StoreUnavailable as exc:
        store_ok = False
        reasons.append(f"store: {exc.reason}")
    if h.store_error is not None:
        reasons.append(f"store writes failing: {h.store_error}")
    if not h.is_broker_connected:
        reasons.append(f"broker: {h.broker_error or 'not connected yet'}")
    if reasons:
        response.status_code = 503
    return HealthOut(
        status="degraded" if reasons else "ok",
        reasons=reasons,
        broker_connected=h.is_broker_connected,
        store_ok=store_ok,
        outbox=outbox,
        alerts_raised=h.alerts.raised,
        alerts_cleared=h.alerts.cleared,
        messages_received=h.ingest.received,
        messages_rejected=h.ingest.rejected_total,
    )


@router.get("/ingest/stats", response_model=IngestStatsOut)
def ingest_stats(context: Context, admin: Admin) -> IngestStatsOut:
    """Messages received, accepted and rejected, by adapter and reason, with the last one."""
    ingest = context.health.ingest
    rejections = []
    for (adapter, reason), count in sorted(ingest.rejected.items()):
        last = ingest.last_rejection[(adapter, reason)]
        rejections.append(
            RejectionOut(
                adapter=adapter,
                reason=reason,
                count=count,
                last_detail=last.detail,
                last_topic=last.topic,
                last_device_id=last.device_id,
                last_received_at=last.received_at,
                last_sample=last.sample,
            )
        )
    return IngestStatsOut(
        received=ingest.received,
        accepted=ingest.accepted,
        rejected=ingest.rejected_total,
        rejections=rejections,
        inbox_full_waits=ingest.inbox_full_waits,
        skewed=dict(ingest.skewed),
        timers_held=ingest.timers_held,
    )
