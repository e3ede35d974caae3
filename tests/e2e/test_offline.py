"""Everything the gateway serves loads with no network: a real browser whose every request
to anything but 127.0.0.1 is aborted renders /docs, /redoc and the dashboard."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from gateway.runtime.broker import LocalBroker
from tests.e2e.test_dashboard import CHROMIUM_ARGS
from tests.support import GatewayProcess

pytestmark = pytest.mark.integration

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
# a second wall behind page.route (which sees no WebSocket): no name resolves but ours
NO_DNS = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium as in test_dashboard.py, minus name resolution."""
    args = [*CHROMIUM_ARGS, NO_DNS]
    with sync_playwright() as playwright:
        offline = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        yield offline
        offline.close()


def _offline_page(browser: Browser, base_url: str) -> tuple[Page, list[str]]:
    """A page whose requests leave 127.0.0.1 never: each is aborted and listed."""
    page = browser.new_context(base_url=base_url).new_page()
    blocked: list[str] = []

    def only_local(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort("internetdisconnected")

    page.route("**/*", only_local)
    return page, blocked


def _operations(gw: GatewayProcess) -> list[tuple[str, str, str]]:
    """(method, path, operationId) of every operation the schema lists."""
    schema = httpx.get(gw.base_url + "/openapi.json", timeout=5).json()
    return [
        (method, path, op["operationId"])
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


@pytest.fixture
def gateway(
    broker: LocalBroker, topic_root: str, gateways: Callable[..., GatewayProcess]
) -> GatewayProcess:
    return gateways(broker.port, topic_root)


def test_swagger_ui_renders_every_operation_with_the_network_blocked(
    browser: Browser, gateway: GatewayProcess
) -> None:
    operations = _operations(gateway)
    assert len(operations) > 10
    page, blocked = _offline_page(browser, gateway.base_url)
    page.goto("/docs")
    blocks = page.locator(".opblock")
    expect(blocks.first).to_be_visible(timeout=15_000)
    expect(blocks).to_have_count(len(operations))
    shown = {
        (block.locator(".opblock-summary-method").inner_text().lower(),
         block.locator(".opblock-summary-path").get_attribute("data-path"))
        for block in blocks.all()
    }  # fmt: skip
    assert shown == {(method, path) for method, path, _ in operations}
    assert blocked == []


def test_redoc_renders_every_operation_with_the_network_blocked(
    browser: Browser, gateway: GatewayProcess
) -> None:
    operations = _operations(gateway)
    page, blocked = _offline_page(browser, gateway.base_url)
    page.goto("/redoc")
    sections = page.locator("[data-section-id^='operation/']")
    expect(sections.first).to_be_attached(timeout=20_000)
    expect(sections).to_have_count(len(operations))
    ids = {s.get_attribute("data-section-id") for s in sections.all()}
    assert ids == {f"operation/{operation_id}" for _, _, operation_id in operations}
    expect(page.get_by_role("heading", name="gridgate").first).to_be_visible()
    assert blocked == []


def test_the_dashboard_asks_nothing_of_the_network(
    browser: Browser, gateway: GatewayProcess
) -> None:
    page, blocked = _offline_page(browser, gateway.base_url)
    page.goto("/")
    page.get_by_label("访问令牌").fill(gateway.env["GRIDGATE_AUTH__ADMIN_TOKEN"])
    page.get_by_label("访问令牌").press("Enter")
    expect(page.locator("#app")).to_be_visible()
    expect(page.get_by_text("暂无待处理告警")).to_be_visible()  # the alerts were fetched
    assert blocked == []
