"""The figures fault tests measure, collected into test-artifacts/reliability.json.

Tests may run in parallel processes (pytest-xdist): each merge holds a lock on a file
beside the artifact and replaces the artifact whole, so no figure is lost and no reader
sees half a file."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from tests.support import REPO

OUT = REPO / "test-artifacts" / "reliability.json"


def record(test: str, **figures: Any) -> None:
    """Merge this test's figures into the artifact (one JSON object per test name)."""
    OUT.parent.mkdir(exist_ok=True)
    with (OUT.parent / f".{OUT.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data: dict[str, Any] = read()
        data[test] = figures
        partial = OUT.with_name(f".{OUT.name}.{os.getpid()}")
        partial.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        partial.replace(OUT)


def read() -> dict[str, Any]:
    return json.loads(Path(OUT).read_text()) if OUT.exists() else {}
