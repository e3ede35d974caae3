"""The `gridgate` command: one tree of commands (typer), one module per command.

Adding a command: write `gateway/cli/<command>.py` holding one function whose docstring is
its help (first line: the line `gridgate --help` lists; then a paragraph; then examples
under `\\b`), and register it below with one line. Everything a command shares (exit
codes, the --config option, how a bad configuration is told) is in conventions.py.

Exit codes: 0 ok, 1 failure, 2 bad input or configuration, 130 stopped by Ctrl-C.
"""

from __future__ import annotations

import typer

from gateway.cli import (
    backup,
    cases,
    check_config,
    city,
    config,
    demo,
    routes,
    rules,
    run,
    sensors,
    simulate,
    token,
)
from gateway.cli.conventions import PASS_THROUGH

HELP = """\
gridgate: an IoT edge gateway for urban grid governance (网格化管理): door and hazard
sensors over MQTT become grid alerts for the grid workers responsible.

Each command has --help with examples. Exit codes: 0 ok, 1 failure, 2 bad input or
configuration, 130 stopped by Ctrl-C. Shell completion: gridgate --install-completion
(bash, zsh, fish, PowerShell), or --show-completion to print the script.
"""


def _tree(line: str) -> typer.Typer:
    return typer.Typer(
        help=line,
        rich_markup_mode=None,  # plain help, like the commands with their own command line
        no_args_is_help=True,
        pretty_exceptions_enable=False,  # a traceback's locals could hold secrets
        context_settings={"help_option_names": ["-h", "--help"]},
    )


def _group(name: str, line: str) -> typer.Typer:
    group = _tree(line)
    app.add_typer(group, name=name)
    return group


app = _tree(HELP)
config_group = _group("config", "config show: the settings in force, secrets masked.")
token_group = _group("token", "token create PERSON: a bearer token for a person.")
rules_group = _group("rules", "rules test RULES READINGS: the alerts a stream raises.")
routes_group = _group("routes", "routes test: who an alert reaches, and why.")
sensors_group = _group("sensors", "sensors check ADAPTER: an adapter against its samples.")
city_group = _group("city", "city run, migrate, gateway, token, prune: the city.")

# one line per command (`gridgate --help` lists the commands first, then the groups)
app.command("run")(run.run)
app.command("demo")(demo.demo)
app.command("check-config")(check_config.check_config)
config_group.command("show")(config.show)
token_group.command("create")(token.create)
app.command("backup")(backup.backup)
rules_group.command("test")(rules.replay)
routes_group.command("test")(routes.explain)
sensors_group.command("check", **PASS_THROUGH)(sensors.check)
app.command("simulate", **PASS_THROUGH)(simulate.simulate)
app.command("cases", **PASS_THROUGH)(cases.cases)
city_group.command("run")(city.run)
city_group.command("migrate")(city.migrate)
city_group.command("gateway")(city.gateway)
city_group.command("token")(city.token)
city_group.command("prune")(city.prune)


def main(argv: list[str] | None = None) -> int:
    """Run `gridgate` with `argv` (default: the process's arguments); the exit code."""
    try:
        app(args=argv, prog_name="gridgate")
    except SystemExit as exc:  # how click ends every command, and argparse too
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return 0
