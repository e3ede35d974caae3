"""`gridgate city ...`: the city instance over every community gateway (docs/city.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from gateway.cli.conventions import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    ConfigOption,
    complain,
    load_settings_only,
    say,
)

if TYPE_CHECKING:
    from gateway.city.store import CityStore
    from gateway.config import CitySettings


def _store(city: CitySettings) -> CityStore:
    from gateway.city.store import CityStore

    if city.database_url is None:
        complain(
            "gridgate city: refusing to start, invalid configuration:\n"
            "GRIDGATE_CITY__DATABASE_URL: required for the city (postgresql://...)"
        )
        raise typer.Exit(EXIT_CONFIG)
    return CityStore(city.database_url.get_secret_value())


def _migrated(city: CitySettings) -> CityStore:
    from gateway.city.store import CityStoreError

    store = _store(city)
    try:
        store.migrate()
    except CityStoreError as exc:
        complain(f"gridgate city: {exc}")
        raise typer.Exit(EXIT_FAILED) from None
    return store


def run(config: ConfigOption = None) -> None:
    """Run the city: events into PostgreSQL, the API.

    Every gateway's events from the city broker go into PostgreSQL; the city's API and
    dashboard show them. Needs GRIDGATE_CITY__DATABASE_URL (postgresql://...) and
    GRIDGATE_CITY__BROKER (host:port); reads GRIDGATE_CITY__TOPIC/+ and listens on
    GRIDGATE_CITY__API_HOST:API_PORT. A missing or bad setting stops it before anything
    starts (exit 2); an unreachable database exits 1. SIGTERM or Ctrl-C stops it.

    \b
    Examples:
      GRIDGATE_CITY__BROKER=mqtt:1883 gridgate city run
      GRIDGATE_CITY__DATABASE_URL=postgresql://city@db/city gridgate city run
      gridgate city run --config /etc/gridgate/city.yaml
    """
    import asyncio

    from gateway.city.service import CitySettingsError, serve_city
    from gateway.city.store import CityStoreError
    from gateway.runtime import logs

    settings = load_settings_only(config)
    logs.configure(settings.log)
    try:
        asyncio.run(serve_city(settings.city))
    except CitySettingsError as exc:
        complain(f"gridgate city: refusing to start, invalid configuration:\n{exc}")
        raise typer.Exit(EXIT_CONFIG) from None
    except CityStoreError as exc:
        complain(f"gridgate city: {exc}")
        raise typer.Exit(EXIT_FAILED) from None
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None


def migrate(config: ConfigOption = None) -> None:
    """Create or update the city's tables.

    The city's schema in PostgreSQL, migrated to this version (`city run` does it too).

    \b
    Examples:
      GRIDGATE_CITY__DATABASE_URL=postgresql://city@db/city gridgate city migrate
    """
    from gateway.city.schema import MIGRATIONS

    store = _migrated(load_settings_only(config).city)
    store.close()
    say(f"city schema at version {len(MIGRATIONS)}")


def gateway(
    gateway_ids: Annotated[
        list[str],
        typer.Argument(metavar="GATEWAY_ID...", help="the gateways' GRIDGATE_CITY__GATEWAY_ID"),
    ],
    name: Annotated[
        str, typer.Option("--name", metavar="TEXT", help="what the city calls it (one gateway)")
    ] = "",
    config: ConfigOption = None,
) -> None:
    """Add gateways the city accepts events from.

    Events of a gateway never added are refused and counted (unknown_gateway).

    \b
    Examples:
      gridgate city gateway c-yanghe --name 阳河社区
      gridgate city gateway c-001 c-002 c-003
    """
    import re

    from gateway.runtime.clock import utcnow

    for gateway_id in gateway_ids:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", gateway_id):
            complain(f"gridgate city gateway: {gateway_id!r} is not a gateway id")
            raise typer.Exit(EXIT_CONFIG)
    store = _migrated(load_settings_only(config).city)
    try:
        for gateway_id in gateway_ids:
            store.add_gateway(gateway_id, name if len(gateway_ids) == 1 else "", utcnow())
    finally:
        store.close()
    say(f"{len(gateway_ids)} gateway(s) known to the city")


def token(
    node: Annotated[
        str, typer.Option("--node", metavar="NODE_ID", help="what it sees: a district, street...")
    ],
    label: Annotated[str, typer.Option("--label", metavar="TEXT")] = "",
    config: ConfigOption = None,
) -> None:
    """Print a token for the city's API, scoped to a node.

    It sees what lies under NODE_ID (a street's token sees its communities). The city
    keeps only its hash.

    \b
    Examples:
      gridgate city token --node s-xingqing --label 兴庆街道指挥中心
    """
    import secrets

    from gateway.runtime.clock import utcnow

    store = _migrated(load_settings_only(config).city)
    made = secrets.token_urlsafe(24)
    try:
        store.add_token(made, node, label, utcnow())
    finally:
        store.close()
    say(made)


def prune(
    health_days: Annotated[
        float, typer.Option("--health-days", min=0, help="keep this many days of summaries")
    ] = 30,
    config: ConfigOption = None,
) -> None:
    """Forget old device health summaries.

    Health summaries are most of what the city receives (one per gateway a minute); the
    last one of each gateway stays shown. Alert and case events are never pruned here.
    Run it daily (cron, a systemd timer).

    \b
    Examples:
      gridgate city prune --health-days 30
    """
    from datetime import timedelta

    from gateway.runtime.clock import utcnow

    store = _migrated(load_settings_only(config).city)
    try:
        gone = store.prune_health(utcnow() - timedelta(days=health_days))
    finally:
        store.close()
    say(f"{gone} health summaries older than {health_days:g} days forgotten")
