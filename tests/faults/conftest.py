"""Fixtures of the fault tests: a gateway on the two-grids site with its roster, shared by a
module's tests, and the tokens of one person per role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from gateway.runtime.broker import LocalBroker, free_port
from tests.support import (
    FIXTURES,
    GatewayProcess,
    Publisher,
    WebhookReceiver,
    gateway_env,
    wait_until,
)


@dataclass(frozen=True)
class TwoGrids:
    """A running gateway with one alert in g1, and a token per person id."""

    gw: GatewayProcess
    tokens: dict[str, str]  # admin, l-g1 (grid leader), w-g1 and w-g2 (grid workers)
    g1_alert_id: int


@pytest.fixture(scope="module")
def two_grids(broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoGrids]:
    tmp = tmp_path_factory.mktemp("two-grids")
    hook = WebhookReceiver(port=free_port())
    hook.start()
    topic_root = f"gg-faults-{free_port()}"
    env, port = gateway_env(
        tmp,
        broker.port,
        topic_root,
        site_file=FIXTURES / "site.two-grids.yaml",
        webhooks=[{"name": "people-hook", "url": hook.url}],
        extra_env={"GRIDGATE_ROSTER_FILE": str(FIXTURES / "roster.two-grids.yaml")},
    )
    gw = GatewayProcess(env=env, log_path=tmp / "gateway.log", api_port=port)
    publisher = Publisher(broker.port)
    try:
        gw.start()
        publisher.publish(
            f"{topic_root}/v1/smoke-b1-u1/reading",
            json.dumps({"kind": "smoke", "fields": {"smoke": True}}),
        )
        (alert,) = wait_until(lambda: gw.get("/alerts"), 10, "the g1 smoke alert")
        tokens = {"admin": env["GRIDGATE_AUTH__ADMIN_TOKEN"]}
        for person_id in ("l-g1", "w-g1", "w-g2"):
            response = gw.post(f"/people/{person_id}/tokens", {"label": "faults"})
            assert response.status_code == 201, response.text
            tokens[person_id] = response.json()["token"]
        yield TwoGrids(gw, tokens, int(alert["id"]))
    finally:
        publisher.close()
        gw.stop()
        hook.stop()
