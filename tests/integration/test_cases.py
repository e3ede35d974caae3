"""Cases end to end: a real gateway with a roster, a real broker and a real webhook
receiver; reports with photos over HTTP, every step of the workflow, scoping, the
resident's public page and link, sensor alerts opening cases, deadlines, KPIs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.runtime.broker import LocalBroker, free_port
from tests.support import REPO, EventStream, GatewayProcess, Publisher, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration

FIXTURES = REPO / "tests" / "fixtures"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
SMOKE = '{"kind":"smoke","fields":{"smoke":%s}}'
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def people_hook() -> Iterator[WebhookReceiver]:
    instance = WebhookReceiver(port=free_port())
    instance.start()
    yield instance
    instance.stop()


# the shipped routing plus what a site adds to hand every step of every case to its
# integrations (the city platform): docs/cases.md
INTEGRATIONS = """
  - name: case integrations
    match:
      event: [case.reported, case.filed, case.dispatched, case.accepted, case.returned,
              case.handled, case.verified, case.reworked, case.extension_requested,
              case.extension_approved, case.extension_denied, case.held, case.cancelled,
              case.called_back, case.reminded, case.escalated]
    notify:
      - channels: [webhook]
    continue: true
"""


def routes_with_integrations(tmp_path: Path) -> Path:
    shipped = (REPO / "gateway" / "defaults" / "routes.yaml").read_text(encoding="utf-8")
    head, cases = shipped.split("  # ---- cases", 1)
    path = tmp_path / "routes.yaml"
    path.write_text(head + INTEGRATIONS + "\n  # ---- cases" + cases, encoding="utf-8")
    return path


def start(
    gateways: Callable[..., GatewayProcess],
    broker: LocalBroker,
    topic_root: str,
    hook: WebhookReceiver,
    **env: str,
) -> GatewayProcess:
    tmp_path = Path(env.pop("tmp_path"))
    return gateways(
        broker.port,
        topic_root,
        site_file=FIXTURES / "site.two-grids.yaml",
        webhooks=[{"name": "people-hook", "url": hook.url}],
        extra_env={
            "GRIDGATE_ROSTER_FILE": str(FIXTURES / "roster.cases.yaml"),
            "GRIDGATE_CASES__CATEGORIES_FILE": str(FIXTURES / "categories.fast.yaml"),
            "GRIDGATE_ROUTES_FILE": str(routes_with_integrations(tmp_path)),
            **env,
        },
    )


def token(gw: GatewayProcess, person_id: str) -> str:
    response = gw.post(f"/people/{person_id}/tokens", {"label": "test"})
    assert response.status_code == 201, response.text
    value: str = response.json()["token"]
    return value


def step(gw: GatewayProcess, who: str, case_id: int, act: str, **form: Any) -> httpx.Response:
    files = form.pop("files", None)
    return gw.call("POST", f"/cases/{case_id}/{act}", token=who, data=form, files=files)


def case_events(hook: WebhookReceiver, case_id: int) -> list[str]:
    return [
        r.json()["event"] for r in hook.requests if r.json().get("case", {}).get("id") == case_id
    ]


def test_a_patrol_report_goes_through_every_step_to_closure_verified_by_someone_else(
    gateways: Callable[..., GatewayProcess],
    broker: LocalBroker,
    topic_root: str,
    people_hook: WebhookReceiver,
    tmp_path: Path,
) -> None:
    gw = start(gateways, broker, topic_root, people_hook, tmp_path=str(tmp_path))
    worker, other, leader, outsider = (token(gw, p) for p in ("w-g1", "w2-g1", "l-g1", "w-g2"))
    # the live stream of case steps, as the worker's and the other grid's pages open it
    live, live_outsider = (
        EventStream(gw, "/cases/events", worker),
        EventStream(gw, "/cases/events", outsider),
    )
    made = gw.call(
        "POST",
        "/cases",
        token=worker,
        data={"category": "exposed_rubbish", "node_id": "b1", "description": "楼下垃圾堆放"},
        files=[("photos", ("a.jpg", JPEG, "application/octet-stream"))],
    )
    assert made.status_code == 201, made.text
    case = made.json()
    case_id = case["id"]
    # filed at once (a grid worker's report), dispatched through the routing file to the
    # grid's workers on duty
    assert case["state"] == "dispatched"
    assert case["source"] == "patrol"
    assert sorted(case["dispatched_to"]) == ["w-g1", "w2-g1"]
    assert case["light"] == "green"
    wait_until(
        lambda: {"case.filed", "case.dispatched"} <= set(case_events(people_hook, case_id)),
        10,
        "filed and dispatched messages",
    )

    # another grid's worker sees nothing of it: 404, as for a case that does not exist
    assert gw.call("GET", f"/cases/{case_id}", token=outsider).status_code == 404
    assert gw.call("GET", "/cases", token=outsider).json() == []
    assert step(gw, outsider, case_id, "accept").status_code == 404

    assert step(gw, worker, case_id, "accept").json()["state"] == "accepted"
    # an illegal step is 409 naming the steps allowed
    wrong = step(gw, worker, case_id, "verify")
    assert wrong.status_code == 409
    assert "handle" in wrong.json()["allowed"]
    # a handle without a note is refused
    assert step(gw, worker, case_id, "handle").status_code == 422
    handled = step(
        gw, worker, case_id, "handle", note="已清运",
        files=[("photos", ("b.jpg", JPEG, "image/jpeg"))],
    )  # fmt: skip
    assert handled.json()["state"] == "handled", handled.text
    # the handler may not verify their own work
    assert step(gw, worker, case_id, "verify").status_code == 403
    assert step(gw, leader, case_id, "rework", note="还有残留").json()["state"] == "accepted"
    assert step(gw, worker, case_id, "handle", note="已清理干净").status_code == 200
    closed = step(gw, other, case_id, "verify", note="现场核查通过").json()
    assert closed["state"] == "closed"
    assert closed["reworks"] == 1
    assert closed["verified_by"] == "w2-g1"
    assert step(gw, leader, case_id, "callback", satisfaction="satisfied").status_code == 200
    assert step(gw, leader, case_id, "callback", satisfaction="satisfied").status_code == 409

    detail = gw.call("GET", f"/cases/{case_id}", token=worker).json()
    assert [e["action"] for e in detail["history"]] == [
        "report", "dispatch", "accept", "handle", "rework", "handle", "verify", "callback",
    ]  # fmt: skip
    assert len(detail["photos"]) == 2
    photo = detail["photos"][0]
    got = gw.call("GET", photo["url"], token=worker)
    assert got.content == JPEG
    assert got.headers["content-type"] == "image/jpeg"
    assert gw.call("GET", photo["url"], token=outsider).status_code == 404
    wait_until(
        lambda: {"case.accepted", "case.handled", "case.reworked", "case.verified",
                 "case.called_back"} <= set(case_events(people_hook, case_id)),
        10,
        "every step's message",
    )  # fmt: skip

    # every step reached the worker's page live, in order, the case as they may see it;
    # nothing of it the other grid's
    steps = [e["action"] for e in detail["history"]]
    wait_until(lambda: len(live.events) >= len(steps), 10, "every step on the live stream")
    live.close()
    assert [(e["event"], e["action"]) for e in live.events] == [("case", a) for a in steps]
    assert {e["case"]["id"] for e in live.events} == {case_id}
    assert all("allowed" in e["case"] and "light" in e["case"] for e in live.events)
    assert live_outsider.events == []
    live_outsider.close()
    # a page reconnecting after the second step gets the rest
    resumed = EventStream(
        gw, "/cases/events", worker, **{"Last-Event-ID": str(live.events[1]["id"])}
    )
    wait_until(lambda: len(resumed.events) >= len(steps) - 2, 10, "the steps after the second")
    resumed.close()
    assert [e["action"] for e in resumed.events] == steps[2:]


def test_a_photo_that_is_not_an_image_or_too_big_is_refused(
    gateways: Callable[..., GatewayProcess],
    broker: LocalBroker,
    topic_root: str,
    people_hook: WebhookReceiver,
    tmp_path: Path,
) -> None:
    gw = start(gateways, broker, topic_root, people_hook, tmp_path=str(tmp_path),
               GRIDGATE_CASES__PHOTO_MAX_BYTES="20000")  # fmt: skip
    worker = token(gw, "w-g1")
    form = {"category": "exposed_rubbish", "node_id": "b1", "description": "x"}
    html = gw.call("POST", "/cases", token=worker, data=form,
                   files=[("photos", ("a.jpg", b"<html>hi</html>", "image/jpeg"))])  # fmt: skip
    assert html.status_code == 415
    big = gw.call("POST", "/cases", token=worker, data=form,
                  files=[("photos", ("a.jpg", JPEG * 30, "image/jpeg"))])  # fmt: skip
    assert big.status_code == 413
    outside = gw.call("POST", "/cases", token=worker, data={**form, "node_id": "b2"})
    assert outside.status_code == 403
    assert gw.call("GET", "/cases", token=worker).json() == []


def test_a_residents_report_is_checked_on_site_then_dispatched_and_followed_by_link(
    gateways: Callable[..., GatewayProcess],
    broker: LocalBroker,
    topic_root: str,
    people_hook: WebhookReceiver,
    tmp_path: Path,
) -> None:
    gw = start(gateways, broker, topic_root, people_hook, tmp_path=str(tmp_path),
               GRIDGATE_CASES__REPORTS_PER_PHONE="2")  # fmt: skip
    leader, outsider, worker = token(gw, "c-c1"), token(gw, "w-g1"), token(gw, "w-g2")
    link = gw.call("GET", "/cases/report-link", token=leader, params={"node_id": "c1"}).json()
    path = httpx.URL(link["url"]).path
    assert gw.call("GET", link["qr_svg"], token=leader).text.startswith("<?xml")
    page = httpx.get(gw.base_url + path)
    assert page.status_code == 200
    assert "随手拍" in page.text
    places = httpx.get(gw.base_url + path + "/places").json()
    assert "b2" in {p["id"] for p in places["places"]}
    form = {"description": "路灯不亮", "phone": "13912345678", "place": "b2"}
    sent = httpx.post(gw.base_url + path, data=form,
                      files=[("photos", ("p.jpg", JPEG, "image/jpeg"))])  # fmt: skip
    assert sent.status_code == 201, sent.text
    answer = sent.json()
    case_id = answer["case_id"]
    mine = httpx.URL(answer["link"]).path
    seen = httpx.get(gw.base_url + mine + "/case").json()
    assert seen["state"] == "reported"
    # the grid's worker sees the phone; a webhook body has it masked
    assert gw.call("GET", f"/cases/{case_id}", token=worker).json()["reporter"]["phone"] == (
        "13912345678"
    )
    wait_until(lambda: "case.reported" in case_events(people_hook, case_id), 10, "reported")
    body = next(
        r.json() for r in people_hook.requests if r.json().get("case", {}).get("id") == case_id
    )
    assert body["case"]["reporter"]["phone"] == "139****5678"
    assert "13912345678" not in json.dumps([r.json() for r in people_hook.requests])
    assert gw.call("GET", f"/cases/{case_id}", token=outsider).status_code == 404
    # checked on site and filed: dispatched to g2's worker on duty
    filed = step(gw, worker, case_id, "file", note="现场确认", category="exposed_rubbish").json()
    assert filed["state"] == "dispatched", filed
    assert filed["dispatched_to"] == ["w-g2"]
    # abuse limits: this phone may send two reports in the window
    assert httpx.post(gw.base_url + path, data=form).status_code == 201
    refused = httpx.post(gw.base_url + path, data=form)
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    assert httpx.get(gw.base_url + "/report/forged.token").status_code == 403
    # closed: the resident rates it through their link
    for who, act, extra in ((worker, "accept", {}), (worker, "handle", {"note": "已修复"}),
                            (token(gw, "c-c1"), "verify", {})):  # fmt: skip
        assert step(gw, who, case_id, act, **extra).status_code == 200
    seen = httpx.get(gw.base_url + mine + "/case").json()
    assert seen["state"] == "closed"
    assert seen["can_rate"]
    rated = httpx.post(gw.base_url + mine + "/callback", data={"satisfaction": "satisfied"})
    assert rated.json()["satisfaction"] == "satisfied"
    assert [t["what"] for t in rated.json()["timeline"]][:3] == ["已受理", "已核实立案", "已派遣"]


def test_a_sensor_alert_opens_a_case_and_its_clear_verifies_it_after_the_quiet_time(
    gateways: Callable[..., GatewayProcess],
    broker: LocalBroker,
    topic_root: str,
    people_hook: WebhookReceiver,
    publisher: Publisher,
    tmp_path: Path,
) -> None:
    gw = start(gateways, broker, topic_root, people_hook, tmp_path=str(tmp_path))
    worker = token(gw, "w-g1")
    topic = f"{topic_root}/v1/smoke-b1-u1/reading"
    publisher.publish(topic, SMOKE % "true")
    cases = wait_until(lambda: gw.get("/cases"), 10, "a case from the smoke alert")
    [case] = cases
    assert case["source"] == "sensor"
    assert case["category"] == "smoke"
    assert case["state"] == "dispatched"
    [alert] = gw.get("/alerts")  # the alert API is as it was
    assert case["alert_ids"] == [alert["id"]]
    # the case follows its alert: who acknowledges it accepts the case, who resolves it
    # handled it; nobody does the same piece of work twice
    assert gw.post(f"/alerts/{alert['id']}/ack", {}, token=worker).status_code == 200
    assert gw.get(f"/cases/{case['id']}")["handler"] == "w-g1"
    body = {"resolution": "false_alarm", "note": "误报，已复位"}
    assert gw.post(f"/alerts/{alert['id']}/resolve", body, token=worker).status_code == 200
    handled = gw.get(f"/cases/{case['id']}")
    assert handled["state"] == "handled"
    assert handled["handled_by"] == "w-g1"
    # a sensor case is told through its alert: no case messages of its own by default
    assert not [r for r in people_hook.requests if r.json().get("case", {}).get("id") == case["id"]
                and "recipients" in r.json()]  # fmt: skip
    publisher.publish(topic, SMOKE % "false")
    wait_until(lambda: gw.get("/alerts")[0]["cleared_at"], 10, "the alert cleared")
    # the clear is evidence; after the quiet time (3 s) the case is verified by the sensor
    closed = wait_until(
        lambda: (c := gw.get(f"/cases/{case['id']}"))["state"] == "closed" and c, 15, "closed"
    )
    assert closed["verified_by"] == "sensors"
    assert [e["action"] for e in closed["history"]][-2:] == ["evidence", "verify"]


def test_a_stage_past_its_limit_is_reminded_then_escalated_up_the_ladder(
    gateways: Callable[..., GatewayProcess],
    broker: LocalBroker,
    topic_root: str,
    people_hook: WebhookReceiver,
    tmp_path: Path,
) -> None:
    gw = start(gateways, broker, topic_root, people_hook, tmp_path=str(tmp_path))
    worker = token(gw, "w-g1")
    form = {"category": "slow_to_accept", "node_id": "b1", "description": "x"}
    made = gw.call("POST", "/cases", token=worker, data=form)
    case_id = made.json()["id"]
    escalated = wait_until(
        lambda: (c := gw.get(f"/cases/{case_id}"))["escalation_level"] >= 1 and c, 15, "escalation"
    )
    assert escalated["stage_light"] == "red"
    assert [c["id"] for c in gw.get("/cases", overdue="true")] == [case_id]
    # and in /metrics, for an operator's dashboards and alert rules
    metrics = {
        (m.name, tuple(sorted(s.labels.items()))): s.value
        for m in text_string_to_metric_families(httpx.get(gw.base_url + "/metrics").text)
        for s in m.samples
    }
    state = escalated["state"]
    cases = (("category", "slow_to_accept"), ("state", state))
    assert metrics[("gridgate_cases", cases)] == 1
    assert metrics[("gridgate_cases_overdue", (("state", state),))] == 1
    assert metrics[("gridgate_cases_overdue", (("state", "handled"),))] == 0
    actions = [e["action"] for e in escalated["history"]]
    assert actions.index("remind") < actions.index("escalate")

    def told_leader() -> bool:
        return any(
            r.json()["event"] == "case.escalated"
            and "l-g1" in [p["person_id"] for p in r.json().get("recipients", [])]
            for r in people_hook.requests
        )

    wait_until(told_leader, 10, "the escalation reaches the grid leader")
    kpis = gw.get("/cases/kpis", group="grid")
    assert kpis["total"]["reported"] == 1
    csv = gw.call("GET", "/cases/report", params={"month": "2026-03", "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert "结案率" in csv.text
    page = gw.call("GET", "/cases/report", params={"month": "2026-03"})
    assert "案件月报" in page.text
    # the same report from the command line, over the store the gateway is writing
    month = datetime.fromisoformat(escalated["reported_at"]).astimezone(SHANGHAI).strftime("%Y-%m")
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "cases", "report", "--month", month],
        env={**os.environ, **gw.env}, capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.lstrip("\ufeff").splitlines()
    assert header.startswith("编号,名称,上报数,应结案数")
    assert rows[0].startswith("g1,第1网格,1,")
