"""The one interface every channel implements."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from gateway.store.db import Delivery


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    detail: str = ""


class Channel(Protocol):
    name: str

    async def deliver(self, delivery: Delivery) -> Result: ...
