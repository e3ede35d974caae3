"""The night window in the site's timezone (default 22:00-06:00), as rules read the clock.

Resident traffic thins out at night, and the door-left-open hold is shorter then: both the
behaviour and the ground truth ask this module, so they agree on when night starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class NightWindow:
    """Local times [starts, ends) are night; `starts` after `ends` means across midnight."""

    timezone: ZoneInfo = ZoneInfo(DEFAULT_TIMEZONE)  # noqa: RUF009  # ZoneInfo is immutable and cached
    starts: time = time(22, 0)
    ends: time = time(6, 0)

    def contains(self, at: datetime) -> bool:
        local = at.astimezone(self.timezone).time()
        if self.starts <= self.ends:
            return self.starts <= local < self.ends
        return local >= self.starts or local < self.ends

    def boundaries_after(self, at: datetime) -> Iterator[datetime]:
        """The instants (aware UTC) after `at` where night starts or ends, in order, forever."""
        day = at.astimezone(self.timezone).date() - timedelta(days=1)
        while True:
            edges = sorted(
                datetime.combine(day, t, tzinfo=self.timezone).astimezone(UTC)
                for t in (self.starts, self.ends)
            )
            for edge in edges:
                if edge > at:
                    yield edge
            day += timedelta(days=1)
