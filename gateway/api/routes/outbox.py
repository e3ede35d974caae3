"""Outbox dead letters: list the rows given up, and put one back to be sent (admin only)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from gateway.api.deps import Admin, Context, RowId
from gateway.api.schemas import Problem

router = APIRouter(prefix="/outbox", tags=["outbox"])


class DeadLetterOut(BaseModel):
    id: int
    alert_id: int
    event: str
    channel: str
    target: str
    attempts: int
    error: str
    created_at: datetime


class RetriedOut(BaseModel):
    id: int
    state: str


@router.get("/dead", response_model=list[DeadLetterOut])
def dead_letters(context: Context, person: Admin) -> list[DeadLetterOut]:
    """Deliveries given up (after max attempts, or a channel's final answer), newest first."""
    return [
        DeadLetterOut(
            id=d.id,
            alert_id=d.alert_id,
            event=d.event,
            channel=d.channel,
            target=d.target,
            attempts=d.attempts,
            error=d.error,
            created_at=d.created_at,
        )
        for d in context.store.outbox.dead_letters()
    ]


@router.post(
    "/{delivery_id}/retry",
    response_model=RetriedOut,
    responses={
        404: {"model": Problem, "description": "no outbox row with that id"},
        409: {"model": Problem, "description": "the row is not a dead letter"},
    },
)
def retry(delivery_id: RowId, context: Context, person: Admin) -> RetriedOut:
    """Back to pending with attempts reset. Only dead letters move: a delivered row is
    never sent again."""
    state, row = context.store.outbox.revive(delivery_id, context.now())
    if state is None:
        raise HTTPException(status_code=404, detail=f"outbox row {delivery_id}: not found")
    if state != "pending":
        raise HTTPException(
            status_code=409, detail=f"outbox row {delivery_id}: is {state}, not dead"
        )
    if row is not None:
        context.revive(row)
    return RetriedOut(id=delivery_id, state=state)
