"""A wall-clock time of the site ("22:00"), as rule windows, duty hours and routing windows
are written: in quotes, without an offset (the site's timezone applies)."""

from __future__ import annotations

from datetime import time
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator


def _written_as_text(value: object) -> object:
    """Unquoted, YAML 1.1 reads `22:00` as the number 1320 (base 60), which pydantic would
    take for seconds: 00:22 UTC, and comparing it with a local time raises."""
    if isinstance(value, int | float):
        raise ValueError(f'write the time in quotes ("22:00"): unquoted, YAML reads it as {value}')
    return value


def _without_offset(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a local time in the site's timezone, without an offset")
    return value


LocalTime = Annotated[time, BeforeValidator(_written_as_text), AfterValidator(_without_offset)]
