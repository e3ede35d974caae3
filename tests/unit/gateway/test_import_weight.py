"""What the gateway's process loads: nothing it never runs (each MB counts against the
250 MB budget at 100,000 doors, docs/benchmarks.md)."""

from __future__ import annotations

import subprocess
import sys


def test_the_running_gateway_does_not_load_httpx_command_line_client() -> None:
    # httpx imports click, rich and pygments for its own CLI when they are installed
    probe = (
        "import sys, gateway.cli, gateway.cli.run, gateway.service, httpx;"
        "print(sorted(m for m in ('rich', 'pygments', 'httpx._main') if sys.modules.get(m)))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == "[]"
