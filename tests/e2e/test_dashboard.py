"""The dashboard in a real browser (Debian's chromium through Playwright) at phone size,
against the real gateway fed by the simulator through a real Mosquitto."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from gateway.runtime.broker import LocalBroker
from tests.support import (
    REPO,
    GatewayProcess,
    Publisher,
    WebhookReceiver,
    door,
    fast_rules,
    wait_until,
)

pytestmark = pytest.mark.integration

FIXTURES = REPO / "tests" / "fixtures"
ARTIFACTS = REPO / "test-artifacts"
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


def _page(browser: Browser, base_url: str) -> Page:
    context = browser.new_context(viewport=PHONE, base_url=base_url, locale="zh-CN")
    return context.new_page()


def _sign_in(page: Page, token: str) -> None:
    page.goto("/")
    page.get_by_label("访问令牌").fill(token)
    page.get_by_label("访问令牌").press("Enter")  # keyboard only
    expect(page.locator("#app")).to_be_visible()


def _contrast(page: Page, selector: str) -> float:
    ratio: float = page.eval_on_selector(
        selector,
        """(node) => {
          const rgb = (s) => s.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
          const lum = ([r, g, b]) => {
            const f = (c) => {
              c /= 255;
              return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
            };
            return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
          };
          let bgNode = node, bg = "rgba(0, 0, 0, 0)";
          while (bgNode && (bg === "rgba(0, 0, 0, 0)" || bg === "transparent")) {
            bg = getComputedStyle(bgNode).backgroundColor; bgNode = bgNode.parentElement;
          }
          const a = lum(rgb(getComputedStyle(node).color)), b = lum(rgb(bg));
          return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        }""",
    )
    return ratio


@pytest.mark.long
def test_a_grid_leader_sees_a_door_alert_appear_live_and_acknowledges_it(
    browser: Browser,
    broker: LocalBroker,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    gw = gateways(
        broker.port,
        topic_root,
        webhooks=[{"name": "people-hook", "url": receiver.url}],  # the roster's channel
        site_file=FIXTURES / "site.two-grids.yaml",
        rules_file=fast_rules(tmp_path, hold_s=3),
        extra_env={"GRIDGATE_ROSTER_FILE": str(FIXTURES / "roster.two-grids.yaml")},
    )
    leader = gw.post("/people/l-g1/tokens", {}).json()["token"]
    other = gw.post("/people/w-g2/tokens", {}).json()["token"]

    page = _page(browser, gw.base_url)
    _sign_in(page, leader)
    expect(page.get_by_text("暂无待处理告警")).to_be_visible()
    # labels, contrast, thumb-sized controls
    for control in page.locator("input, select, textarea").all():
        labels: int = control.evaluate("(node) => node.labels.length")
        assert labels >= 1, control.get_attribute("id")
    assert _contrast(page, "#alerts-title") >= 4.5
    assert _contrast(page, "#who") >= 4.5
    box = page.get_by_role("button", name="退出").bounding_box()
    assert box is not None
    assert box["height"] >= 36

    options = {
        "--site": FIXTURES / "site.two-grids.yaml",
        "--host": "127.0.0.1",
        "--port": broker.port,
        "--topic-root": topic_root,
        "--seed": 5,
        "--incident": "door_left_open@1:30:door-b1-u1",
        "--day-hold-s": 3,
        "--night-hold-s": 3,
        "--max-ordinary-open-s": 1,
        "--duration-s": 40,
    }
    argv = [str(x) for pair in options.items() for x in pair]
    simulator = subprocess.Popen(
        [sys.executable, "-m", "simulator", "run", *argv],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        card = page.locator(".alert").filter(has_text="门未关闭")
        expect(card).to_be_visible(timeout=15_000)  # pushed by the live stream, no reload
        expect(card).to_contain_text("第1网格 / 1号楼 / 1单元")
        expect(card.locator(".badge").first).to_have_text("已派发")
        page.screenshot(path=str(ARTIFACTS / "dashboard-alert-390x844.png"), full_page=True)

        card.get_by_role("button", name="签收").click()
        expect(card.locator(".badge").first).to_have_text("已签收")
        expect(page.locator(".door.open, .door .state.open").first).to_be_visible()
        page.get_by_label("只看开着的").check()
        expect(page.locator(".door")).to_have_count(1)
        page.locator(".door").first.click()
        expect(page.locator("#device-changes li").first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "dashboard-device-390x844.png"))
        page.get_by_role("button", name="关闭").click()

        page.get_by_role("button", name="Switch language").click()
        expect(page.get_by_role("heading", name="Open alerts")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "dashboard-en-390x844.png"), full_page=True)

        # a worker of another grid sees nothing of it
        outsider = _page(browser, gw.base_url)
        _sign_in(outsider, other)
        expect(outsider.get_by_text("暂无待处理告警")).to_be_visible()
        expect(outsider.locator(".door")).to_have_count(1)
        outsider.screenshot(path=str(ARTIFACTS / "dashboard-other-grid-390x844.png"))
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)


def test_the_page_says_when_it_is_offline_and_recovers_by_itself(
    browser: Browser,
    broker: LocalBroker,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
) -> None:
    gw = gateways(broker.port, topic_root)
    page = _page(browser, gw.base_url)
    _sign_in(page, gw.env["GRIDGATE_AUTH__ADMIN_TOKEN"])
    expect(page.locator("#live")).to_have_text("实时")
    gw.stop()
    expect(page.locator("#live")).to_have_text("连接中断，正在重连…", timeout=10_000)
    gw.start()
    expect(page.locator("#live")).to_have_text("实时", timeout=15_000)


def test_a_bad_token_is_refused_with_a_message(
    browser: Browser, broker: LocalBroker, topic_root: str, gateways: Callable[..., Any]
) -> None:
    gw = gateways(broker.port, topic_root)
    page = _page(browser, gw.base_url)
    page.goto("/")
    page.get_by_label("访问令牌").fill("gg_wrong")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_have_text("令牌无效或已停用")


def test_an_acknowledged_alert_stays_until_resolved_and_an_open_door_asks_before_resolving(
    browser: Browser,
    broker: LocalBroker,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    publisher: Publisher,
    tmp_path: Path,
) -> None:
    gw = gateways(broker.port, topic_root, rules_file=fast_rules(tmp_path, hold_s=1))
    page = _page(browser, gw.base_url)
    _sign_in(page, gw.env["GRIDGATE_AUTH__ADMIN_TOKEN"])

    def open_door(device_id: str, *, is_open: bool = True) -> None:
        publisher.publish(f"{topic_root}/v1/{device_id}/reading", door(is_open))

    def alert_of(device_id: str) -> dict[str, Any]:
        (alert,) = wait_until(lambda: gw.get("/alerts", device_id=device_id), 10, device_id)
        return alert

    # acknowledged, then the door closes: still on the list, until it is resolved
    open_door("door-b1-u1")
    first = page.locator(f'.alert[data-alert="{alert_of("door-b1-u1")["id"]}"]')
    expect(first).to_be_visible(timeout=10_000)
    first.get_by_role("button", name="签收").click()
    expect(first.locator(".badge").first).to_have_text("已签收")
    open_door("door-b1-u1", is_open=False)
    wait_until(lambda: not alert_of("door-b1-u1")["is_active"], 10, "the door closed")
    expect(first.locator(".badge.ended")).to_have_text("门已关")  # pushed live, no reload
    expect(first.locator(".badge").first).to_have_text("已签收")
    expect(first.get_by_role("button", name="签收")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "dashboard-acknowledged-closed-390x844.png"))
    first.get_by_role("button", name="办结").click()
    page.locator("#resolve").get_by_role("button", name="办结").click()  # door closed: no question
    expect(page.locator("#confirm")).to_be_hidden()
    expect(first).to_have_count(0)
    assert alert_of("door-b1-u1")["state"] == "resolved"

    # the door is still open: resolving asks first; cancelling leaves the alert as it was
    open_door("door-b2-u1")
    second = page.locator(f'.alert[data-alert="{alert_of("door-b2-u1")["id"]}"]')
    expect(second).to_be_visible(timeout=10_000)
    second.get_by_role("button", name="办结").click()
    page.locator("#resolve").get_by_role("button", name="办结").click()
    expect(page.locator("#confirm")).to_contain_text("这扇门还开着")
    page.screenshot(path=str(ARTIFACTS / "dashboard-resolve-open-door-390x844.png"))
    page.locator("#confirm").get_by_role("button", name="取消").click()
    expect(second).to_be_visible()
    assert alert_of("door-b2-u1")["state"] in ("raised", "dispatched")
    second.get_by_role("button", name="办结").click()
    page.locator("#resolve").get_by_role("button", name="办结").click()
    page.locator("#confirm").get_by_role("button", name="仍要办结").click()
    expect(second).to_have_count(0)
    resolved = alert_of("door-b2-u1")
    assert (resolved["state"], resolved["is_active"]) == ("resolved", True)


def _lift_status(*, trapped: bool, floor: int, is_level: bool = True) -> str:
    """A lift monitor's report in the native format: the car standing at `floor`."""
    fields = {
        "trapped": trapped,
        "moving": False,
        "at_floor": is_level,
        "door_open": False,
        "floor": floor,
        "in_service": True,
        "overspeed": False,
    }
    return json.dumps({"kind": "lift", "fields": fields})


def test_a_lift_with_passengers_trapped_shows_on_its_building_and_as_an_alert(
    browser: Browser,
    broker: LocalBroker,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    receiver: WebhookReceiver,
    publisher: Publisher,
) -> None:
    gw = gateways(  # the shipped rules: lift_trapped raises at once, critical
        broker.port,
        topic_root,
        webhooks=[{"name": "people-hook", "url": receiver.url}],  # the roster's channel
        site_file=FIXTURES / "site.two-grids.yaml",
        extra_env={"GRIDGATE_ROSTER_FILE": str(FIXTURES / "roster.two-grids.yaml")},
    )
    for lift, node in (("lift-b1", "b1"), ("lift-b2", "b2")):
        added = gw.post("/devices", {"device_id": lift, "kind": "lift", "node_id": node})
        assert added.status_code == 201, added.text
        publisher.publish(f"{topic_root}/v1/{lift}/reading", _lift_status(trapped=False, floor=1))
    wait_until(
        lambda: {lift["state"] for lift in gw.get("/lifts")} == {"in_service"}, 10, "lifts level"
    )
    leader = gw.post("/people/l-g1/tokens", {}).json()["token"]
    other = gw.post("/people/w-g2/tokens", {}).json()["token"]

    page = _page(browser, gw.base_url)
    _sign_in(page, leader)
    building = page.locator('#lifts details[data-node="b1"]')
    expect(building.locator("summary")).to_have_text("光明社区 / 第1网格 / 1号楼")
    expect(building.locator(".lift .state")).to_have_text("正常运行 · 1层")
    expect(page.locator("#lifts .lift")).to_have_count(1)  # b2's lift is another grid's

    publisher.publish(
        f"{topic_root}/v1/lift-b1/reading", _lift_status(trapped=True, floor=7, is_level=False)
    )
    card = page.locator(".alert").filter(has_text="电梯困人")
    expect(card).to_be_visible(timeout=15_000)  # pushed by the live stream, no reload
    expect(card).to_contain_text("第1网格 / 1号楼")
    expect(building.locator("summary")).to_have_text("光明社区 / 第1网格 / 1号楼 · 困人 1")
    expect(building.locator(".lift .state.trapped")).to_contain_text("困人")
    expect(building.locator(".lift .state.trapped")).to_contain_text("7层")
    box = page.locator("#lifts").bounding_box()
    assert box is not None
    assert box["width"] <= PHONE["width"]  # no sideways scrolling on the phone
    page.screenshot(path=str(ARTIFACTS / "dashboard-lift-trapped-390x844.png"), full_page=True)

    building.locator(".lift").click()
    expect(page.locator("#device-meta")).to_contain_text("lift-b1 · 困人")
    expect(page.locator("#device-changes li").first).to_contain_text("困人")
    page.get_by_role("button", name="关闭").click()

    page.get_by_role("button", name="Switch language").click()
    expect(building.locator(".lift .state.trapped")).to_contain_text("passengers trapped")
    expect(building.locator(".lift .state.trapped")).to_contain_text("floor 7")

    # a worker of the other grid sees their own building's lift, and nothing of this one
    outsider = _page(browser, gw.base_url)
    _sign_in(outsider, other)
    expect(outsider.locator("#lifts .lift")).to_have_count(1)
    expect(outsider.locator('#lifts details[data-node="b2"] .lift .state')).to_have_text(
        "正常运行 · 1层"
    )
    expect(outsider.get_by_text("暂无待处理告警")).to_be_visible()
