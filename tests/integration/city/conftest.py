"""The city's fixtures: one PostgreSQL for the session (a database per test), Mosquitto
instances for the edge and the city with a real bridge between them, `gridgate city run`
as a real process. Everything on 127.0.0.1 and free ports; stopped by pid."""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.city.store import CityStore
from gateway.runtime.broker import LocalBroker, free_port
from tests.cityrig import Postgres
from tests.support import GatewayProcess

CITY_TOKEN = "city-admin-token-for-tests"  # noqa: S105  # a test token
_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    server = Postgres()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def city_db(postgres: Postgres) -> str:
    """A fresh database of its own for the test, migrated; its URL."""
    url = postgres.create_database(f"city_{next(_databases)}_{os.getpid()}")
    store = CityStore(url)
    store.migrate()
    store.close()
    return url


@dataclass
class CityProcess(GatewayProcess):
    """`gridgate city run`: the gateway's process wrapper with the city's command and token."""

    command: tuple[str, ...] = ("city", "run")

    def get(self, path: str, token: str = CITY_TOKEN, **params: Any) -> Any:
        response = httpx.get(self.base_url + path, params=params, timeout=5,
                             headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        response.raise_for_status()
        return response.json()


StartCity = Callable[..., CityProcess]


@pytest.fixture
def cities(tmp_path: Path, city_db: str) -> Iterator[StartCity]:
    """Start `gridgate city run` processes on the test's database; stopped at the end."""
    started: list[CityProcess] = []

    def start(broker_port: int, *, client_id: str = "gridgate-city", **env: str) -> CityProcess:
        port = free_port()
        process = CityProcess(
            env={
                "GRIDGATE_CITY__DATABASE_URL": city_db,
                "GRIDGATE_CITY__BROKER": f"127.0.0.1:{broker_port}",
                "GRIDGATE_CITY__CLIENT_ID": client_id,
                "GRIDGATE_CITY__API_PORT": str(port),
                "GRIDGATE_CITY__ADMIN_TOKEN": CITY_TOKEN,
                "GRIDGATE_LOG__LEVEL": "DEBUG",
                **env,
            },
            log_path=tmp_path / f"city-{len(started)}.log",
            api_port=port,
        )
        started.append(process)
        process.start()
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def city_store(city_db: str) -> Iterator[CityStore]:
    store = CityStore(city_db)
    yield store
    store.close()


def add_gateways(store: CityStore, *ids: str) -> None:
    for gateway_id in ids:
        store.add_gateway(gateway_id, "", datetime.now(UTC))


def gateway_seq(gw: GatewayProcess) -> int:
    """The last number the gateway gave its feed (its own SQLite, read-only)."""
    path = Path(gw.env["GRIDGATE_STATE_DIR"]) / "gridgate.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchone()[0])


def broker_in(directory: Path, extra: str = "") -> LocalBroker:
    broker = LocalBroker(directory, persistence=True)
    broker.write_config(extra)
    broker.start()
    return broker
