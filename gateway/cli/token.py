"""`gridgate token create PERSON`: a bearer token for a person of the roster."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.cli.conventions import EXIT_CONFIG, ConfigOption, complain, load, say


def create(
    person: Annotated[
        str, typer.Argument(metavar="PERSON", help="a person id from the roster file")
    ],
    label: Annotated[
        str | None,
        typer.Option("--label", metavar="TEXT", help="what the token is for, e.g. the phone"),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Print a new token for PERSON (the gateway keeps only its hash).

    The person must be in the roster (GRIDGATE_ROSTER_FILE); they see the alerts and doors
    of their nodes with it. Revoke it through the API (docs/people.md). Exit 2 when the
    person is not in the roster.

    \b
    Examples:
      GRIDGATE_ROSTER_FILE=roster.yaml gridgate token create w-g1 --label "王芳's phone"
      gridgate token create l-g1 --config /etc/gridgate/gridgate.yaml
    """
    from gateway.api.auth import hash_token, new_token
    from gateway.runtime.clock import utcnow
    from gateway.store import Store

    settings, loaded = load(config)
    if person not in loaded.roster.people:
        complain(f"gridgate token: {person!r} is not in the roster ({settings.roster_file})")
        raise typer.Exit(EXIT_CONFIG)
    token = new_token()
    store = Store(settings.database_path)
    try:
        store.people.add_token(hash_token(token), person, label, utcnow())
    finally:
        store.close()
    say(token)
