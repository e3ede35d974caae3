"""Reload the rules when their file (or folder) changes, without a restart.

A changed file is loaded and checked like at start; if it is bad, the error is logged with
`path:line: reason` and the rules in force stay. Polls a fingerprint (names, sizes, mtimes)
every few seconds: cheap, and it works on every filesystem.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from rules.model import RuleFile, load_rules
from sensors.errors import FileError

log = logging.getLogger(__name__)

POLL_S = 2.0

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(path: Path) -> Fingerprint:
    files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
    out = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        out.append((str(f), st.st_mtime_ns, st.st_size))
    return tuple(out)


async def watch_rules(
    path: Path, apply: Callable[[RuleFile], Awaitable[None]], *, poll_s: float = POLL_S
) -> None:
    seen = await asyncio.to_thread(fingerprint, path)
    while True:
        await asyncio.sleep(poll_s)
        now = await asyncio.to_thread(fingerprint, path)
        if now == seen:
            continue
        seen = now
        try:
            rules = await asyncio.to_thread(load_rules, path)
        except FileError as exc:
            log.error("rules_refused keeping=in-force reason=%s", str(exc).replace("\n", " | "))
            continue
        await apply(rules)
        log.info("rules_reloaded path=%s rules=%d", path, len(rules.rules))
