"""`gridgate check-config`: validate the configuration, start nothing."""

from __future__ import annotations

from gateway.cli.conventions import ConfigOption, load, say


def check_config(config: ConfigOption = None) -> None:
    """Validate the configuration; start nothing.

    Reads the settings as `gridgate run` would (environment over the --config file), every
    file they name, and the roster against the configured channels. Exit 0 with a
    summary; exit 2 with one line per problem, naming the variable or the file's line.

    \b
    Examples:
      gridgate check-config
      gridgate check-config --config /etc/gridgate/gridgate.yaml
      GRIDGATE_SITE_FILE=site.yaml GRIDGATE_ROSTER_FILE=roster.yaml gridgate check-config
    """
    settings, loaded = load(config)
    say(
        f"ok: site {settings.site_file} ({len(loaded.site.devices)} devices), "
        f"rules {settings.rules_file} ({len(loaded.rules.rules)} rules)"
    )
    telemetry = settings.telemetry
    say(
        f"telemetry: {telemetry.url} bucket {telemetry.bucket}"
        if telemetry.is_enabled
        else "telemetry: off"
    )
