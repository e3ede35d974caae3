"""The city's API and dashboard over real HTTP, on events sent through a real broker into
`gridgate city run` and PostgreSQL: every community's open alerts and cases with their
whole place, filters by street, district, community and category, a street's token that
sees its communities only, KPIs by level whose nodes add up to the total; the dashboard
in Chromium at phone (390 x 844) and desktop (1280 x 800) widths, in Chinese."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from gateway.city.records import alert_record, case_record
from gateway.city.store import CityStore
from gateway.cli import main
from gateway.places.site import Level, Node
from gateway.store.records import Alert, AlertState, Case, CaseSource, CaseState, Reporter
from rules.model import Severity
from tests.integration.city.conftest import CITY_TOKEN, StartCity, add_gateways, broker_in
from tests.support import REPO, Publisher, wait_until

pytestmark = pytest.mark.integration

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
NOW = datetime.now(UTC).replace(microsecond=0)
D = Node(Level.DISTRICT, "d-xq", "兴庆区")
STREETS = {
    "c-yh": (Node(Level.STREET, "s-fq", "凤凰街道"), Node(Level.COMMUNITY, "c-yh", "阳河社区")),
    "c-jh": (Node(Level.STREET, "s-dj", "大新街道"), Node(Level.COMMUNITY, "c-jh", "金湖社区")),
}


def place(gateway: str) -> tuple[Node, ...]:
    street, community = STREETS[gateway]
    return (D, street, community, Node(Level.GRID, f"{gateway}-g1", "第1网格"))


def an_alert(gateway: str, alert_id: int, kind: str, **changes: Any) -> Alert:
    values: dict[str, Any] = dict(
        id=alert_id, rule_id=f"{kind}_rule", title_zh="烟雾报警" if kind == "smoke" else "门未关闭",
        title_en=kind, severity=Severity.CRITICAL if kind == "smoke" else Severity.WARNING,
        kind=kind, device_id=f"{kind}-{alert_id}", state=AlertState.RAISED,
        location=place(gateway), place=" / ".join(n.name for n in place(gateway)[2:]),
        opened_at=NOW, due_at=NOW, raised_at=NOW - timedelta(minutes=alert_id),
    )  # fmt: skip
    return Alert(**{**values, **changes})


def a_case(gateway: str, case_id: int) -> Case:
    return Case(
        id=case_id, source=CaseSource.PATROL, category="corridor_clutter", major="environment",
        title_zh="楼道堆物", title_en="Corridor clutter", severity=Severity.WARNING,
        state=CaseState.DISPATCHED, location=place(gateway), place="阳河社区 / 第1网格",
        description="三楼楼道堆放杂物", reporter=Reporter("w-1", "王芳", "13800000000"),
        reported_at=NOW - timedelta(hours=1), filed_at=NOW - timedelta(hours=1),
        due_at=NOW + timedelta(hours=20), first_due_at=NOW + timedelta(hours=20),
    )  # fmt: skip


def send(publisher: Publisher, gateway: str, seq: int, event: str, subject: str,
         record: dict[str, Any]) -> None:  # fmt: skip
    body = {"v": 1, "id": f"{gateway}:{seq}", "gateway": gateway, "seq": seq,
            "at": NOW.isoformat(), "event": event, subject: record}  # fmt: skip
    publisher.publish(f"gridgate/city/{gateway}", json.dumps(body, ensure_ascii=False))


def street_token(city_db: str, monkeypatch: pytest.MonkeyPatch,
                 capsys: pytest.CaptureFixture[str]) -> str:  # fmt: skip
    """`gridgate city token` (in this process: the command as a user runs it)."""
    monkeypatch.setenv("GRIDGATE_CITY__DATABASE_URL", city_db)
    capsys.readouterr()
    assert main(["city", "token", "--node", "s-fq", "--label", "凤凰街道"]) == 0
    return capsys.readouterr().out.strip()


@pytest.mark.long
def test_the_city_shows_every_community_scoped_filtered_rolled_up_on_phone_and_desktop(
    tmp_path: Path,
    cities: StartCity,
    city_store: CityStore,
    city_db: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broker = broker_in(tmp_path / "city-broker")
    publisher = Publisher(broker.port)
    try:
        add_gateways(city_store, "c-yh", "c-jh")
        city = cities(broker.port)
        send(
            publisher,
            "c-yh",
            1,
            "alert.raised",
            "alert",
            alert_record(an_alert("c-yh", 1, "smoke")),
        )
        send(
            publisher, "c-yh", 2, "alert.raised", "alert", alert_record(an_alert("c-yh", 2, "door"))
        )
        send(publisher, "c-yh", 3, "case.dispatched", "case", case_record(a_case("c-yh", 1)))
        send(
            publisher, "c-jh", 1, "alert.raised", "alert", alert_record(an_alert("c-jh", 1, "door"))
        )
        done = an_alert("c-jh", 2, "door", state=AlertState.RESOLVED, acknowledged_at=NOW,
                        resolved_at=NOW)  # fmt: skip
        send(publisher, "c-jh", 2, "alert.resolved", "alert", alert_record(done))
        wait_until(lambda: city.get("/health")["counts"]["applied"] == 5, 10, "5 events applied")

        assert httpx.get(city.base_url + "/alerts", timeout=5).status_code == 401
        every = city.get("/alerts")
        assert sorted((a["gateway"], a["id"]) for a in every) == [
            ("c-jh", 1), ("c-yh", 1), ("c-yh", 2)]  # fmt: skip
        assert all(len(a["location"]) == 4 for a in every)
        assert [a["gateway"] for a in city.get("/alerts", street="s-dj")] == ["c-jh"]
        assert [a["kind"] for a in city.get("/alerts", category="smoke")] == ["smoke"]
        assert len(city.get("/alerts", district="d-xq", community="c-yh")) == 2
        assert len(city.get("/alerts", state="all")) == 4
        [case] = city.get("/cases")
        assert (case["gateway"], case["state"], "reporter" in case) == ("c-yh", "dispatched", False)

        token = street_token(city_db, monkeypatch, capsys)
        assert {a["gateway"] for a in city.get("/alerts", token=token)} == {"c-yh"}
        assert {g["gateway_id"] for g in city.get("/gateways", token=token)} == {"c-yh"}
        refused = httpx.get(city.base_url + "/rejections", timeout=5,
                            headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert refused.status_code == 403

        for level in ("district", "street", "community", "grid"):
            report = city.get("/kpis", level=level)
            for subject, keys in (("alerts", ("raised", "acknowledged", "resolved", "open")),
                                  ("cases", ("reported", "due", "closed", "open"))):  # fmt: skip
                nodes, total = report[subject]["nodes"], report[subject]["total"]
                for key in keys:
                    assert sum(n[key] for n in nodes) == total[key], (level, subject, key)
        streets = city.get("/kpis", level="street")["alerts"]
        assert {n["node_id"]: n["raised"] for n in streets["nodes"]} == {"s-dj": 2, "s-fq": 2}
        assert streets["total"]["resolution_rate"] == 0.25

        ARTIFACTS.mkdir(exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
            )
            for name, size in (("phone", {"width": 390, "height": 844}),
                               ("desktop", {"width": 1280, "height": 800})):  # fmt: skip
                context = browser.new_context(viewport=size, base_url=city.base_url,
                                              locale="zh-CN")  # fmt: skip
                page = context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc, seen=errors: seen.append(str(exc)))
                page.on("console", lambda m, seen=errors: seen.append(m.text)
                        if m.type == "error" else None)  # fmt: skip
                page.goto("/")
                page.get_by_label("访问令牌").fill(CITY_TOKEN)
                page.get_by_label("访问令牌").press("Enter")
                expect(page.locator("#list li")).to_have_count(3)
                expect(
                    page.get_by_text("兴庆区 / 凤凰街道 / 阳河社区 / 第1网格").first
                ).to_be_visible()
                expect(page.locator("#kpis")).to_contain_text("凤凰街道")
                expect(page.locator("#kpis")).to_contain_text("合计")
                page.select_option("#f-street", "s-dj")
                expect(page.locator("#list li")).to_have_count(1)
                expect(page.locator("#list")).to_contain_text("金湖社区")
                page.get_by_role("tab", name="案件").click()
                expect(page.locator("#list li")).to_have_text(["暂无"])
                page.select_option("#f-street", "")
                expect(page.locator("#list")).to_contain_text("楼道堆物")
                page.get_by_role("tab", name="网关").click()
                expect(page.locator("#list li")).to_have_count(2)
                expect(page.locator("#list")).to_contain_text("在线")
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= size["width"], f"{name}: {width} px wide, no sideways scroll"
                assert errors == [], errors
                page.screenshot(path=str(ARTIFACTS / f"city-dashboard-{name}.png"), full_page=True)
                context.close()
            browser.close()
    finally:
        publisher.close()
        broker.stop()
