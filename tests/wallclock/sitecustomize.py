"""A faked wall clock for every Python process of a test run (the tests, the gateways and
simulators they start), so that the suite can be proved to pass at any hour.

.ci/run puts this folder on PYTHONPATH and sets TEST_WALL_CLOCK_OFFSET_S to the seconds
between the real clock and the instant it wants the run to happen at (a night instant
inside the shipped rules' night windows, and one by day), with TZ set to neither UTC nor
Asia/Shanghai. Each process starts its clock at real time + offset and lets it run, so
processes started minutes apart agree on the time as the real clocks do.

What changes: everything that reads the wall clock through Python (`datetime.now()`,
`time.time()`, `time.localtime()`, logging's timestamps): time-machine patches them at the
C level, so `datetime.now(UTC)` inside pydantic or uvicorn is faked too. What does not:
the monotonic clock (asyncio's timers and thread waits keep working). Debian's faketime
(libfaketime 0.9.10) was tried first: it fakes the monotonic clock as well, and Python
3.11's timed lock waits (`threading.Event.wait(timeout)`, `queue.get(timeout=)`) go
through `sem_clockwait`, which it does not intercept, so they never return; with
FAKETIME_DONT_FAKE_MONOTONIC=1, `time.sleep` fails with EINVAL instead. Nor are programs
that are not Python faked (Mosquitto, VictoriaMetrics, openssl, Chromium): the gateway's
own clock is what its rules read, as in the field.
"""

from __future__ import annotations

import os

_offset = os.environ.get("TEST_WALL_CLOCK_OFFSET_S")
if _offset:
    import time

    import time_machine

    time_machine.travel(time.time() + float(_offset), tick=True).start()
    # time-machine's clock starts ticking at its first reading, not at start(): read it now,
    # or a process that first looks at the clock a second later (pytest, after loading its
    # plugins) runs a second behind the others for good
    time.time()
