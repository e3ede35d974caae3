"""`gridgate backup PATH`: an online copy of the SQLite state."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.conventions import EXIT_FAILED, ConfigOption, complain, load_settings_only, say


def backup(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="file to write (one SQLite file)")],
    force: Annotated[bool, typer.Option("--force", help="replace PATH if it exists")] = False,
    config: ConfigOption = None,
) -> None:
    """Copy the SQLite state to PATH, safe while the gateway runs.

    SQLite's online backup inside one read transaction: the copy is the state after one
    committed step, checked, then renamed into place (PATH is complete or absent). Exit 0
    with `ok: PATH (bytes, schema N, M alerts)`; exit 1 when the database is missing or
    PATH exists (without --force). Restoring: docs/operations.md.

    \b
    Examples:
      gridgate backup /var/lib/gridgate/backup-2026-12-01.db
      gridgate backup backup.db --force --config /etc/gridgate/gridgate.yaml
    """
    from gateway.runtime.backup import BackupError
    from gateway.runtime.backup import backup as copy

    settings = load_settings_only(config)
    try:
        result = copy(settings.database_path, path, overwrite=force)
    except BackupError as exc:
        complain(f"gridgate backup: {exc}")
        raise typer.Exit(EXIT_FAILED) from None
    say(
        f"ok: {result.path} ({result.size_bytes} bytes, schema {result.schema_version}, "
        f"{result.alerts} alerts)"
    )
