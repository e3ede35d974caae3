"""The case pages in a real browser (Debian's chromium through Playwright) at phone size
(390x844) against the real gateway: a grid worker reports a problem with a photo from the
form, takes and handles it, another worker verifies it from the verification queue; a
resident reports through the community's public page with a photo and follows it."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from gateway.runtime.broker import LocalBroker
from tests.e2e.test_dashboard import CHROMIUM_ARGS, PHONE
from tests.support import REPO, GatewayProcess, WebhookReceiver

pytestmark = pytest.mark.integration

FIXTURES = REPO / "tests" / "fixtures"
ARTIFACTS = REPO / "test-artifacts"


def png(width: int = 320, height: int = 240) -> bytes:
    """A real PNG (a colour gradient) the browser can decode, shrink and send."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(
        b"\x00" + b"".join(bytes((x % 256, y % 256, 128)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


@pytest.fixture
def gateway(
    gateways: Callable[..., GatewayProcess], broker: LocalBroker, topic_root: str,
    receiver: WebhookReceiver,
) -> GatewayProcess:  # fmt: skip
    return gateways(
        broker.port,
        topic_root,
        site_file=FIXTURES / "site.two-grids.yaml",
        webhooks=[{"name": "people-hook", "url": receiver.url}],
        extra_env={
            "GRIDGATE_ROSTER_FILE": str(FIXTURES / "roster.cases.yaml"),
            "GRIDGATE_CASES__CATEGORIES_FILE": str(FIXTURES / "categories.fast.yaml"),
        },
    )


def token(gw: GatewayProcess, person_id: str) -> str:
    value: str = gw.post(f"/people/{person_id}/tokens", {"label": "e2e"}).json()["token"]
    return value


def signed_in(browser: Browser, gw: GatewayProcess, person_id: str) -> Page:
    context = browser.new_context(viewport=PHONE, base_url=gw.base_url, locale="zh-CN")
    page = context.new_page()
    page.goto("/")
    page.get_by_label("访问令牌").fill(token(gw, person_id))
    page.get_by_label("访问令牌").press("Enter")
    expect(page.locator("#app")).to_be_visible()
    page.get_by_role("link", name="事件").click()
    expect(page.get_by_role("heading", name="上报问题")).to_be_visible()
    return page


def test_a_worker_reports_with_a_photo_handles_it_and_another_verifies_it(
    browser: Browser, gateway: GatewayProcess, tmp_path: Path
) -> None:
    photo = tmp_path / "rubbish.png"
    photo.write_bytes(png())
    page = signed_in(browser, gateway, "w-g1")
    # the places are those of the worker's grid only (the list is filled once the API
    # answers: wait for it, then read it whole)
    expect(page.locator("#node option", has_text="1号楼").first).to_be_attached()
    options = page.locator("#node option").all_inner_texts()
    assert any("1号楼" in o for o in options)
    assert not any("2号楼" in o for o in options)
    page.get_by_label("问题类别").select_option("exposed_rubbish")
    page.get_by_label("地点").select_option("b1")
    page.get_by_label("问题描述").fill("单元门口堆放垃圾")
    page.get_by_label("现场照片").set_input_files(str(photo))
    page.get_by_role("button", name="上报", exact=True).click()
    dialog = page.locator("#case")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#case-meta")).to_contain_text("待接单")
    expect(dialog.locator("#case-meta")).to_contain_text("正常")  # the green light
    image = dialog.locator("#case-photos img")
    expect(image).to_have_count(1)
    page.wait_for_function("() => document.querySelector('#case-photos img').naturalWidth > 0")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "cases-reported-390x844.png"), full_page=True)
    # the photo went up shrunk to a JPEG by the page, the gateway kept it
    [case] = gateway.get("/cases")
    detail = gateway.get(f"/cases/{case['id']}")
    assert detail["photos"][0]["content_type"] == "image/jpeg"

    dialog.get_by_role("button", name="接单").click()
    expect(dialog.locator("#case-meta")).to_contain_text("处置中")
    # another worker of the grid has the verification queue open: empty for now
    other = signed_in(browser, gateway, "w2-g1")
    other.get_by_role("tab", name="待核查").click()
    queue = other.locator("#cases li")
    expect(other.locator("#empty")).to_be_visible()
    expect(queue).to_have_count(0)

    dialog.get_by_label("说明").fill("已清运干净")
    dialog.get_by_label("照片（可选）").set_input_files(str(photo))
    dialog.get_by_role("button", name="处置完成").click()
    expect(dialog.locator("#case-meta")).to_contain_text("待核查")
    expect(dialog.locator("#case-photos img")).to_have_count(2)
    # the handler is offered no verification of their own work
    expect(dialog.get_by_role("button", name="核查通过")).to_have_count(0)

    # the handled case comes into the other worker's queue live, without a reload
    expect(queue).to_have_count(1)
    queue.get_by_role("button", name="查看").click()
    other.locator("#case").get_by_role("button", name="核查通过").click()
    expect(other.locator("#case-meta")).to_contain_text("已结案")
    # and the handler's page, still showing the case, follows it to its closure
    expect(dialog.locator("#case-meta")).to_contain_text("已结案")
    other.screenshot(path=str(ARTIFACTS / "cases-verified-390x844.png"), full_page=True)
    assert gateway.get(f"/cases/{case['id']}")["verified_by"] == "w2-g1"
    # with the gateway gone the page says its live updates stopped, rather than go stale
    expect(other.locator("#live-error")).to_have_text("")
    gateway.stop()
    expect(other.locator("#live-error")).to_contain_text("实时更新")


def test_a_resident_reports_from_the_public_page_with_a_photo_and_follows_it(
    browser: Browser, gateway: GatewayProcess, tmp_path: Path
) -> None:
    photo = tmp_path / "light.png"
    photo.write_bytes(png(200, 400))
    leader = token(gateway, "c-c1")
    link = gateway.call("GET", "/cases/report-link", token=leader, params={"node_id": "c1"}).json()
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    page.goto(gateway.base_url + httpx.URL(link["url"]).path)
    expect(page.get_by_role("heading", name="随手拍 · 问题上报")).to_be_visible()
    page.get_by_label("遇到了什么问题？").fill("2号楼路灯不亮")
    page.get_by_label("在哪里？").select_option("b2")
    page.get_by_label("拍张照片（可选）").set_input_files(str(photo))
    page.get_by_label("手机号（仅网格员可见，用于回访）").fill("13912345678")
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_role("heading", name="已收到")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "cases-resident-390x844.png"), full_page=True)
    page.get_by_role("link", name="查看处理进度").click()
    expect(page.locator("#state")).to_have_text("待核实")
    page.wait_for_function("() => document.querySelector('#photos img')?.naturalWidth > 0")
    [case] = gateway.get("/cases")
    assert case["source"] == "resident"
    assert case["state"] == "reported"
    # the page asked only what a resident knows: no category was required
    assert case["category"] == "other"
