"""The figures fault tests measure, collected into test-artifacts/reliability.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support import REPO

OUT = REPO / "test-artifacts" / "reliability.json"


def record(test: str, **figures: Any) -> None:
    """Merge this test's figures into the artifact (one JSON object per test name)."""
    OUT.parent.mkdir(exist_ok=True)
    data: dict[str, Any] = json.loads(OUT.read_text()) if OUT.exists() else {}
    data[test] = figures
    OUT.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def read() -> dict[str, Any]:
    return json.loads(Path(OUT).read_text()) if OUT.exists() else {}
