"""What every `gridgate` command keeps to: exit codes, output, the --config option, and how
a bad configuration is told (a first line, then one line per problem, exit 2, never a
traceback).

Commands import the gateway inside their function: importing it takes seconds, and
`gridgate --help` and shell completion should answer at once.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from gateway.config import Settings
    from gateway.files import Loaded

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and could not do its job (a backup target exists)
EXIT_CONFIG = 2  # bad input or configuration: an option, a setting, a file's line
EXIT_INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C

REFUSED = "gridgate: refusing to start, invalid configuration:"

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="YAML settings file (environment variables GRIDGATE_* override it)",
    ),
]

# a command that hands its arguments, --help included, to a command line of its own
PASS_THROUGH: dict[str, Any] = {
    "context_settings": {"allow_extra_args": True, "ignore_unknown_options": True},
    "add_help_option": False,
}


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def complain(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


@contextmanager
def refusing(header: str = REFUSED) -> Iterator[None]:
    """A bad setting or file inside becomes `header`, its problems one per line, exit 2."""
    from gateway.config import SettingsError
    from sensors.errors import FileError

    try:
        yield
    except (FileError, SettingsError) as exc:
        complain(f"{header}\n{exc}")
        raise typer.Exit(EXIT_CONFIG) from None


def load(config: Path | None, header: str = REFUSED) -> tuple[Settings, Loaded]:
    """The settings and every file they name, cross-checked (the roster against the
    channels); a bad one ends the command with exit 2."""
    with refusing(header):
        return load_checked(config)


def load_checked(config: Path | None) -> tuple[Settings, Loaded]:
    """`load` for a command that tells a bad file itself: FileError or SettingsError."""
    from gateway.config import load_settings
    from gateway.files import load_files
    from gateway.places.roster import check_channels

    settings = load_settings(config)
    loaded = load_files(settings)
    if settings.roster_file is not None:
        check_channels(loaded.roster, settings.roster_file, settings.channel_names)
    return settings, loaded


def load_settings_only(config: Path | None) -> Settings:
    from gateway.config import load_settings

    with refusing():
        return load_settings(config)
