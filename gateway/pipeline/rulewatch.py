"""Reload the rules (or the routing) when their file or folder changes, without a restart.

A changed file is loaded and checked like at start; if it is bad, the error is logged with
`path:line: reason` and the rules in force stay. Polls a fingerprint (names, sizes, mtimes)
every few seconds: cheap, and it works on every filesystem.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from sensors.errors import FileError

log = logging.getLogger(__name__)

POLL_S = 2.0
T = TypeVar("T")

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


async def watch_file(
    path: Path,
    load: Callable[[Path], T],
    apply: Callable[[T], Awaitable[None]],
    what: str,
    *,
    poll_s: float = POLL_S,
) -> None:
    """Load `path` again whenever it changes and hand it to `apply`; a bad file is logged
    and the one in force stays."""
    seen = await asyncio.to_thread(fingerprint, path)
    while True:
        await asyncio.sleep(poll_s)
        now = await asyncio.to_thread(fingerprint, path)
        if now == seen:
            continue
        seen = now
        try:
            loaded = await asyncio.to_thread(load, path)
        except FileError as exc:
            log.error("%s_refused keeping=in-force reason=%s", what, str(exc).replace("\n", " | "))
            continue
        await apply(loaded)
        log.info("%s_reloaded path=%s", what, path)
