"""`gridgate sensors check ADAPTER [SAMPLES]`: sample payloads through an adapter.

The command line is sensors/check.py's own (an integrator runs it beside the adapter
files); this hands it the arguments, --help included.
"""

from __future__ import annotations

import typer


def check(context: typer.Context) -> None:
    """Run sample payloads through an adapter; say what each became and why one fails.

    Exit 0 all samples as expected, 1 some not, 2 the adapter or samples file cannot be
    used. `gridgate sensors check --help` shows the options and examples.
    """
    from sensors.check import main

    raise typer.Exit(main(context.args))
