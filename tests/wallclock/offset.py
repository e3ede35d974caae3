"""Seconds from now back to the most recent HH:MM in a timezone: TEST_WALL_CLOCK_OFFSET_S
for a run at that wall clock time (see sitecustomize.py).

    python tests/wallclock/offset.py 02:30 Asia/Shanghai     ->  -67320.0
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def offset_to(hhmm: str, tz: ZoneInfo, now: datetime) -> float:
    local_now = now.astimezone(tz)
    at = datetime.combine(local_now.date(), time.fromisoformat(hhmm), tzinfo=tz)
    if at > local_now:
        at -= timedelta(days=1)
    return (at - now).total_seconds()


if __name__ == "__main__":
    sys.stdout.write(f"{offset_to(sys.argv[1], ZoneInfo(sys.argv[2]), datetime.now(UTC)):.1f}\n")
