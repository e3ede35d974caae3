"""Online backup of the SQLite state, safe while the gateway runs (`gridgate backup PATH`).

SQLite's backup API (`sqlite3.Connection.backup`) copies the database page by page inside
one read transaction: in WAL mode the gateway keeps writing meanwhile, and the copy is the
state as of one committed transaction, never a half-written step. The copy is written next
to PATH, switched out of WAL mode (one self-contained file), checked, and only then renamed
to PATH, so PATH is either a complete backup or absent.

Restore: stop the gateway, put the copy at `<state_dir>/gridgate.db`, delete any
`gridgate.db-wal` and `gridgate.db-shm` beside it, start the gateway (docs/operations.md).
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path


class BackupError(Exception):
    """The backup could not be made; `str()` says which file and why."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    schema_version: int
    alerts: int


def backup(database: Path, target: Path, *, overwrite: bool = False) -> BackupResult:
    """Copy the live database at `database` to `target`; BackupError names what failed."""
    if not database.is_file():
        raise BackupError(f"{database}: no database here (is GRIDGATE_STATE_DIR right?)")
    if target.exists() and not overwrite:
        raise BackupError(f"{target}: exists already (use --force to replace it)")
    if target.resolve() == database.resolve():
        raise BackupError(f"{target}: is the live database itself")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
        try:
            copy = sqlite3.connect(partial)
            try:
                source.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")
                check = copy.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    raise BackupError(f"{partial}: the copy fails its check: {check}")
                version = copy.execute("PRAGMA user_version").fetchone()[0]
                alerts = copy.execute("SELECT count(*) FROM alerts").fetchone()[0]
            finally:
                copy.close()
        finally:
            source.close()
        partial.replace(target)
    except (sqlite3.Error, OSError) as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise BackupError(f"{database} -> {target}: {exc}") from exc
    except BackupError:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise
    return BackupResult(target, target.stat().st_size, version, alerts)
