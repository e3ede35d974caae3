"""The demo's simulator starts with Ctrl-C ignored until it takes the signal itself, so a
Ctrl-C during its start-up cannot end it with a traceback (the demo stops it)."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from gateway.cli.demo import spawn_sheltered


def test_the_child_starts_with_sigint_ignored_and_the_demo_keeps_its_own_handler(
    capfd: pytest.CaptureFixture[str],
) -> None:
    before = signal.getsignal(signal.SIGINT)

    child = spawn_sheltered(
        [sys.executable, "-c", "import signal as s; print(s.getsignal(s.SIGINT) is s.SIG_IGN)"]
    )

    assert child.wait(timeout=30) == 0
    assert signal.getsignal(signal.SIGINT) is before
    assert capfd.readouterr().out.strip() == "True"


def test_a_child_that_sets_its_own_handler_takes_ctrl_c_again() -> None:
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *_: sys.exit(7))\n"
        "time.sleep(30)\n"
    )
    child = spawn_sheltered([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while not _catches_sigint(child.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=30) == 7
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def _catches_sigint(pid: int) -> bool:
    """Whether process `pid` has a handler for SIGINT (/proc/<pid>/status, Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    return False
