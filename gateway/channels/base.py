"""The one interface every channel implements: `deliver` one row, answering delivered,
retry later, or give up. Two optional abilities: `Batching` (several rows in one send,
in order: a version-2 webhook) and `Digesting` (a send budget, with digests beyond it:
chat robots). `concurrency` bounds the sends in flight to one target (default 1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from gateway.channels.ratelimit import Window
from gateway.store.records import Delivery


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
class Batching(Protocol):
    """A channel that takes up to `max_batch` rows in one send (one HTTP request), in the
    order given; one result for all of them."""

    max_batch: int

    async def deliver_batch(self, deliveries: list[Delivery]) -> Result: ...


@runtime_checkable
class Digesting(Protocol):
    """A channel with a send budget (chat robots: ~20 a minute). When more rows are due
    than `budget` allows, the outbox hands them over together and the channel sends one
    message that lists them all (docs/channels.md)."""

    budget: Window
    digest_max_items: int

    async def deliver_digest(self, deliveries: list[Delivery]) -> Result: ...
