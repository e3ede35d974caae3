"""The daily curve of residents' door traffic, in the site's timezone.

Mornings (07:00-09:00) and evenings (17:00-20:00) are busy, the small hours quiet, and in
the quiet window (default 01:00-04:00) nobody comes or goes at all: a door that opens then
is an incident (door_forced_at_night), never ordinary traffic. The hourly factors average
1 over a day, so `Behaviour.rate_per_h` is the mean rate of a day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from simulator.night import DEFAULT_TIMEZONE, NightWindow

_HOURLY = (
    0.3, 0.1, 0.1, 0.1, 0.2, 0.4, 1.0, 2.6, 2.2, 0.9, 0.7, 0.9,
    1.2, 0.8, 0.7, 0.8, 1.2, 2.0, 2.6, 2.0, 1.4, 0.9, 0.6, 0.4,
)  # fmt: skip
_FACTORS = tuple(f * 24 / sum(_HOURLY) for f in _HOURLY)
TOP_FACTOR = max(_FACTORS)


def quiet_window(timezone: ZoneInfo, starts: time = time(1), ends: time = time(4)) -> NightWindow:
    return NightWindow(timezone, starts, ends)


@dataclass(frozen=True)
class DailyCurve:
    timezone: ZoneInfo = ZoneInfo(DEFAULT_TIMEZONE)  # noqa: RUF009  # immutable and cached
    quiet: NightWindow = field(default_factory=lambda: quiet_window(ZoneInfo(DEFAULT_TIMEZONE)))

    def factor(self, at: datetime) -> float:
        """How busy doors are at `at`, relative to the day's mean (0 in the quiet window)."""
        if self.quiet.contains(at):
            return 0.0
        return _FACTORS[at.astimezone(self.timezone).hour]
