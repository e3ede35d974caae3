"""The one interface every channel implements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from gateway.channels.ratelimit import Window
from gateway.store.db import Delivery


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"
    # not sent, on purpose (quiet hours): try again at `retry_at`; not counted as an attempt
    DEFER = "defer"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    detail: str = ""
    retry_at: datetime | None = None


class Channel(Protocol):
    name: str

    async def deliver(self, delivery: Delivery) -> Result: ...


@runtime_checkable
class Digesting(Protocol):
    """A channel with a send budget (chat robots: ~20 a minute). When more rows are due
    than `budget` allows, the outbox hands them over together and the channel sends one
    message that lists them all (docs/channels.md)."""

    budget: Window
    digest_max_items: int

    async def deliver_digest(self, deliveries: list[Delivery]) -> Result: ...
