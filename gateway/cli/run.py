"""`gridgate run`: the gateway."""

from __future__ import annotations

import typer

from gateway.cli.conventions import EXIT_INTERRUPTED, ConfigOption, load


def run(config: ConfigOption = None) -> None:
    """Run the gateway: MQTT in, alerts out, the API and dashboard.

    Configured by environment variables (GRIDGATE_*, sections with __) over the --config
    file; a bad setting or file stops it before anything starts (exit 2, one line per
    problem). SIGTERM or Ctrl-C stops it in order, exit 0 (docs/operations.md).

    \b
    Examples:
      gridgate run
      gridgate run --config /etc/gridgate/gridgate.yaml
      GRIDGATE_MQTT__HOST=mqtt.example.org GRIDGATE_MQTT__PORT=1883 gridgate run
    """
    import asyncio

    from gateway.runtime import logs
    from gateway.service import serve

    settings, loaded = load(config)
    logs.configure(settings.log)
    try:
        asyncio.run(serve(settings, loaded))
    except KeyboardInterrupt:  # Ctrl-C before the gateway took over the signals
        raise typer.Exit(EXIT_INTERRUPTED) from None
