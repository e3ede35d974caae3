"""The routing file through a real gateway: a bad file refuses to start with its place,
a change is taken while running, and a bad change leaves the routes in force (docs/routing.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.runtime.broker import LocalBroker, free_port
from tests.support import (
    GatewayProcess,
    Publisher,
    WebhookReceiver,
    run_refused_start,
    wait_until,
)

pytestmark = pytest.mark.integration

SMOKE = '{"kind":"smoke","fields":{"smoke":true}}'


def _routes(receiver: str) -> str:
    return (
        "routes:\n"
        "  - name: only-one\n"
        "    match: {event: [raised, cleared]}\n"
        "    notify:\n"
        f"      - channels: [{receiver}]\n"
    )


@pytest.fixture
def hooks() -> Iterator[dict[str, WebhookReceiver]]:
    both = {name: WebhookReceiver(port=free_port()) for name in ("ops-a", "ops-b")}
    for receiver in both.values():
        receiver.start()
    yield both
    for receiver in both.values():
        receiver.stop()


def _raised(receiver: WebhookReceiver) -> list[str]:
    return [r.json()["alert"]["device_id"] for r in receiver.requests]


def test_routes_reload_on_change_and_a_bad_file_leaves_the_routes_in_force(
    broker: LocalBroker,
    topic_root: str,
    publisher: Publisher,
    gateways: Callable[..., GatewayProcess],
    hooks: dict[str, WebhookReceiver],
    tmp_path: Path,
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(_routes("ops-a"), encoding="utf-8")
    gw = gateways(
        broker.port,
        topic_root,
        webhooks=[{"name": name, "url": r.url} for name, r in hooks.items()],
        extra_env={"GRIDGATE_ROUTES_FILE": str(routes)},
    )
    log = tmp_path / "gateway.log"
    publisher.publish(f"{topic_root}/v1/smoke-b1-u1/reading", SMOKE)
    assert wait_until(lambda: _raised(hooks["ops-a"]), 10, "ops-a told") == ["smoke-b1-u1"]

    routes.write_text(_routes("ops-b"), encoding="utf-8")
    wait_until(lambda: "routes_reloaded" in log.read_text(), 10, "the reload")
    publisher.publish(f"{topic_root}/v1/smoke-b2-u1/reading", SMOKE)
    assert wait_until(lambda: _raised(hooks["ops-b"]), 10, "ops-b told") == ["smoke-b2-u1"]

    # a typo in a key: refused at its line, the routes in force stay
    routes.write_text(_routes("ops-a").replace("notify:", "notfy:"), encoding="utf-8")
    wait_until(lambda: "routes_refused" in log.read_text(), 10, "the refusal")
    refused = [line for line in log.read_text().splitlines() if "routes_refused" in line][-1]
    assert f"{routes}:4" in refused
    publisher.publish(f"{topic_root}/v1/smoke-b3-u1/reading", SMOKE)
    wait_until(lambda: len(_raised(hooks["ops-b"])) == 2, 10, "ops-b still told")
    assert _raised(hooks["ops-b"]) == ["smoke-b2-u1", "smoke-b3-u1"]
    assert _raised(hooks["ops-a"]) == ["smoke-b1-u1"]
    assert gw.get("/health")["status"] == "ok"


def test_a_bad_routing_file_stops_start_up_with_path_line_and_reason(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(_routes("no-such-channel"), encoding="utf-8")
    result = run_refused_start(tmp_path, GRIDGATE_ROUTES_FILE=str(routes))
    assert result.returncode == 2, result.stderr
    assert f"{routes}:5:" in result.stderr
    assert "no-such-channel" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state").exists(), "nothing may start on a bad file"
