"""Fixtures shared by integration and end-to-end tests: a real Mosquitto, a real webhook
receiver, and the gateway as a real process."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from gateway.runtime.broker import LocalBroker, free_port
from tests.support import GatewayProcess, Publisher, WebhookReceiver, gateway_env
from tests.victoria import VictoriaMetrics

_topic_roots = itertools.count(1)

# Property tests run beside brokers, gateways and browsers in parallel workers on a shared
# machine: how fast examples are generated says nothing about the code, so the health
# check on generation speed and the per-example deadline are off for the whole suite
# (what a property asserts, and how many examples it tries, stay each test's own).
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests (`@pytest.mark.long`) first, the rest in their order: scripts/test
    runs the suite in parallel processes (pytest-xdist), and a run should not end with
    the others idle while one long test still goes on."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """One Mosquitto for the session; each test isolates itself with its own topic root."""
    instance = LocalBroker(tmp_path_factory.mktemp("mosquitto"), persistence=False)
    instance.write_config()
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A Mosquitto for this test alone (tests that stop and restart the broker)."""
    instance = LocalBroker(tmp_path / "mosquitto", persistence=True)
    instance.write_config()
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def topic_root() -> str:
    return f"gg-test-{next(_topic_roots)}-{free_port()}"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    instance = WebhookReceiver(port=free_port())
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    """Start gateways with `gateway_env` keywords; all are stopped at the end of the test."""
    started: list[GatewayProcess] = []

    def start(
        broker_port: int, topic_root: str, *, wait_connected: bool = True, **kwargs: object
    ) -> GatewayProcess:
        env, port = gateway_env(tmp_path, broker_port, topic_root, **kwargs)  # type: ignore[arg-type]
        process = GatewayProcess(env=env, log_path=tmp_path / "gateway.log", api_port=port)
        started.append(process)
        process.start(wait_connected=wait_connected)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def publisher(broker: LocalBroker) -> Iterator[Publisher]:
    instance = Publisher(broker.port)
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    """One VictoriaMetrics (InfluxDB write API) for the session; tests tag their points."""
    instance = VictoriaMetrics(tmp_path_factory.mktemp("victoria"))
    instance.start()
    yield instance
    instance.stop()
