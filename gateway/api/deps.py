"""What endpoints receive: the app's context, typed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from gateway.registry import Registry
from gateway.stats import Health
from gateway.store.db import Route, Store


@dataclass(frozen=True)
class AppContext:
    store: Store
    registry: Registry
    health: Health
    route: Route
    now: Callable[[], datetime]


def _context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(_context)]
