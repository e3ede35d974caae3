"""`gridgate config show`: the settings in force, secrets masked."""

from __future__ import annotations

import json

from gateway.cli.conventions import ConfigOption, load_settings_only, say


def show(config: ConfigOption = None) -> None:
    """Print the settings in force as JSON, secrets masked.

    Environment variables (GRIDGATE_*) over the --config file over the defaults; tokens,
    passwords and the keys in chat robots' URLs are shown as '**********'. The files the
    settings name are not read (`gridgate check-config` checks them).

    \b
    Examples:
      gridgate config show
      GRIDGATE_MQTT__HOST=broker.local gridgate config show --config gridgate.yaml
    """
    from gateway.config import masked

    settings = load_settings_only(config)
    say(json.dumps(masked(settings), indent=2, ensure_ascii=False))
