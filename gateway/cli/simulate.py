"""`gridgate simulate ...`: the simulator's own command line (simulator/cli.py).

The simulator talks to gridgate only over MQTT and HTTP; this command is the one place in
gateway/ that reaches it (an import contract in pyproject.toml keeps it so).
"""

from __future__ import annotations

import typer


def simulate(context: typer.Context) -> None:
    """The simulator: sites, traffic, incidents, truth, scores.

    Subcommands site, plan, run, receive and score; `gridgate simulate --help` and
    `gridgate simulate SUBCOMMAND --help` show their options and examples (docs/simulator.md).
    Exit 0 ok, 1 the broker could not be used or a score is not clean, 2 bad input.
    """
    from simulator.cli import main

    raise typer.Exit(main(context.args))
