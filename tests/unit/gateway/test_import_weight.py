"""What the gateway's process loads: nothing it never runs (each MB counts against the
250 MB budget at 100,000 doors, docs/benchmarks.md)."""

from __future__ import annotations

import subprocess
import sys

# httpx imports click, rich and pygments for its own CLI when they are installed;
# influxdb-client and urllib3 only serve telemetry, segno only the printable QR code
UNUSED = ("rich", "pygments", "httpx._main", "influxdb_client", "urllib3", "segno")


def test_a_gateway_without_telemetry_loads_none_of_what_it_does_not_run() -> None:
    # what the process had before the gateway (a test harness's sitecustomize, such as
    # tests/wallclock's time-machine, may load some of these itself) is not counted
    probe = (
        "import sys; before = set(sys.modules);"
        "import gateway.cli, gateway.cli.run, gateway.service, gateway.api.app, httpx;"
        f"print(sorted(m for m in {UNUSED!r} if sys.modules.get(m) and m not in before))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == "[]"
