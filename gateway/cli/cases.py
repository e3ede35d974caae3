"""`gridgate cases ...`: the case side's own command line (gateway/cases/command.py)."""

from __future__ import annotations

import typer


def cases(context: typer.Context) -> None:
    """Cases: the monthly report, and who a case event reaches.

    Subcommands report and routes; `gridgate cases SUBCOMMAND --help` shows their options
    (docs/cases.md). Exit 0 ok, 1 failure, 2 bad input or configuration.

    \\b
    gridgate cases report --month 2026-03 --format html --out march.html
    gridgate cases routes --category exposed_rubbish --node b1 --event case.dispatched
    """
    from gateway.cases.command import main
    from gateway.cli.conventions import load_checked

    raise typer.Exit(main(context.args, load_checked))
