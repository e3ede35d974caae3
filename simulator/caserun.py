"""Playing planned cases (simulator/caseplay.py) to a gateway over HTTP, in accelerated
time, and scoring what became of them.

The gateway runs on event time (`GRIDGATE_CLOCK=event`): the simulated now goes to it as
clock ticks on `{root}/v1/simulator/clock` (MQTT), a few per wall second, so its
deadlines, reminders and escalations run at the simulation's speed; each step is taken
over the API when its simulated instant comes, with the token of the person whose step
it is (tokens made through the admin's `POST /people/{id}/tokens`). Residents report
through their community's public page. What routing decided (who a case went to) is read
from the answers: the simulator acts as the people the gateway chose.
"""

from __future__ import annotations

import heapq
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulator.caseplay import Grid, PlannedCase
from simulator.errors import SimulatorError
from simulator.topics import clock_topic

TICKS_PER_WALL_S = 5


@dataclass
class _Live:
    case_id: int | None = None
    dispatched_to: list[str] = field(default_factory=list)
    handler: str | None = None
    errors: list[str] = field(default_factory=list)


class CaseRun:
    def __init__(
        self, api: str, admin_token: str, host: str, port: int, topic_root: str, speed: float
    ) -> None:
        self._http = httpx.Client(base_url=api.rstrip("/"), timeout=30)
        self._admin = admin_token
        self._speed = speed
        self._topic = clock_topic(topic_root)
        self._tokens: dict[str, str] = {}
        self._links: dict[str, str] = {}
        self._mqtt = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"gridgate-cases-{id(self)}"
        )
        try:
            self._mqtt.connect(host, port)
        except OSError as exc:
            raise SimulatorError(f"cannot reach the broker at {host}:{port}: {exc}") from exc
        self._mqtt.loop_start()
        self.requests = 0

    def close(self) -> None:
        self._mqtt.loop_stop()
        self._mqtt.disconnect()
        self._http.close()

    # ---- time ----------------------------------------------------------------------------

    def _tick(self, at: datetime) -> None:
        body = {"now": at.isoformat(timespec="milliseconds"), "speed": self._speed}
        self._mqtt.publish(self._topic, json.dumps(body), qos=1).wait_for_publish(5)

    def _wait(self, start_at: datetime, t0: float, until: datetime) -> None:
        """Tick the simulated clock forward in wall time up to `until`."""
        due = t0 + (until - start_at).total_seconds() / self._speed
        while (now := time.monotonic()) < due:
            self._tick(start_at + timedelta(seconds=(now - t0) * self._speed))
            time.sleep(min(1 / TICKS_PER_WALL_S, due - now))
        self._tick(until)
        time.sleep(0.02)  # the gateway applies the tick before the step it times

    # ---- people --------------------------------------------------------------------------

    def _token(self, person_id: str) -> str:
        if person_id not in self._tokens:
            r = self._call(
                "POST", f"/people/{person_id}/tokens", self._admin, json={"label": "sim"}
            )
            self._tokens[person_id] = r.json()["token"]
        return self._tokens[person_id]

    def _call(self, method: str, path: str, token: str | None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.requests += 1
        try:
            response = self._http.request(method, path, headers=headers, **kw)
        except httpx.HTTPError as exc:
            raise SimulatorError(f"{method} {path}: {exc}") from exc
        if response.status_code >= 400:
            raise _StepFailed(f"{method} {path}: {response.status_code} {response.text[:200]}")
        return response

    def _report_path(self, community: str) -> str:
        if community not in self._links:
            r = self._call("GET", "/cases/report-link", self._admin, params={"node_id": community})
            self._links[community] = httpx.URL(r.json()["url"]).path
        return self._links[community]

    # ---- steps ---------------------------------------------------------------------------

    def play(
        self, cases: list[PlannedCase], start_at: datetime, end_at: datetime
    ) -> list[dict[str, Any]]:
        """Take every planned step at its time; the truth rows with the gateway's ids."""
        live = {c.key: _Live() for c in cases}
        queue = [(s.at, c.key, i) for c in cases for i, s in enumerate(c.steps)]
        heapq.heapify(queue)
        by_key = {c.key: c for c in cases}
        t0 = time.monotonic()
        while queue:
            at, key, index = heapq.heappop(queue)
            self._wait(start_at, t0, at)
            case, state = by_key[key], live[key]
            if state.errors or (index > 0 and state.case_id is None):
                continue  # an earlier step failed: the truth row says so
            try:
                self._step(case, case.steps[index].act, case.steps[index].note, state)
            except _StepFailed as exc:
                state.errors.append(f"{case.steps[index].act}: {exc}")
        self._wait(start_at, t0, end_at)
        return [{**c.truth(live[c.key].case_id), "errors": live[c.key].errors} for c in cases]

    def _step(self, case: PlannedCase, act: str, note: str, state: _Live) -> None:
        grid = case.grid
        if act == "report":
            self._report(case, state)
            return
        who = self._who(act, grid, state)
        form: dict[str, Any] = {"note": note} if note else {}
        if act == "dispatch":
            form["people"] = [state.handler or state.dispatched_to[0]]
        if act == "request_extension":
            form["limit"] = "2h"
        answer = self._call(
            "POST", f"/cases/{state.case_id}/{act}", self._token(who), data=form
        ).json()
        state.dispatched_to = answer.get("dispatched_to") or state.dispatched_to
        if act == "accept":
            state.handler = who

    def _report(self, case: PlannedCase, state: _Live) -> None:
        if case.source == "resident":
            form = {"description": case.description, "phone": case.reporter, "place": case.building}
            answer = self._call(
                "POST", self._report_path(case.grid.community), None, data=form
            ).json()
            state.case_id = int(answer["case_id"])
            return
        form = {
            "category": case.category,
            "node_id": case.building,
            "description": case.description,
        }
        answer = self._call("POST", "/cases", self._token(case.reporter), data=form).json()
        state.case_id = int(answer["id"])
        state.dispatched_to = list(answer.get("dispatched_to") or [])

    def _who(self, act: str, grid: Grid, state: _Live) -> str:
        leader = grid.leader or (grid.community_staff[0] if grid.community_staff else None)
        if act in ("file", "cancel"):
            return (grid.workers or grid.community_staff)[0]
        if act in ("accept", "return"):
            if not state.dispatched_to:
                raise _StepFailed(f"{act}: the case was dispatched to nobody")
            return state.dispatched_to[0]
        if act in ("handle", "request_extension"):
            return state.handler or state.dispatched_to[0]
        if act in ("verify", "rework"):
            others = [
                p
                for p in (leader, *grid.workers, *grid.community_staff)
                if p and p != state.handler
            ]
            return others[0]
        if leader is None:
            raise _StepFailed(f"{act}: the grid has no leader")
        return leader


class _StepFailed(Exception):
    """The gateway refused a step (the truth row records it)."""


# ---- scoring ---------------------------------------------------------------------------------


@dataclass
class CaseScore:
    expected: int = 0
    matched: int = 0
    wrong: list[str] = field(default_factory=list)
    kpis: dict[str, Any] = field(default_factory=dict)

    @property
    def is_clean(self) -> bool:
        return self.expected > 0 and not self.wrong and self.matched == self.expected

    def table(self) -> str:
        total = self.kpis.get("total", {})
        lines = [
            f"cases expected {self.expected}, as their truth says {self.matched}, "
            f"wrong {len(self.wrong)}",
            *[f"  {w}" for w in self.wrong[:50]],
            "KPIs over the run (GET /cases/kpis):",
        ]
        for name in ("reported", "due", "deferred", "closed", "closed_on_time", "closure_rate",
                     "on_time_rate", "rework_rate", "extension_rate", "open"):  # fmt: skip
            lines.append(f"  {name:16} {total.get(name)}")
        lines.append("clean" if self.is_clean else "NOT clean")
        return "\n".join(lines)


def score_cases(
    truth: list[dict[str, Any]],
    api: str,
    token: str | None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> CaseScore:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    result = CaseScore(expected=len(truth))
    with httpx.Client(base_url=api.rstrip("/"), headers=headers, timeout=30) as client:
        for row in truth:
            label = f"case {row['case_id']} (plan {row['key']}, {row['source']})"
            if row.get("errors"):
                result.wrong.append(f"{label}: a step was refused: {row['errors'][0]}")
                continue
            if row["case_id"] is None:
                result.wrong.append(f"{label}: never reported")
                continue
            got = client.get(f"/cases/{row['case_id']}")
            if got.status_code != 200:
                result.wrong.append(f"{label}: GET answered {got.status_code}")
                continue
            case = got.json()
            seen = (case["state"], case["reworks"], case["extensions"])
            wanted = (row["ends_as"], row["reworks"], row["extensions"])
            if seen != wanted:
                result.wrong.append(f"{label}: is {seen}, truth says {wanted}")
                continue
            result.matched += 1
        params = {"group": "grid"}
        if since is not None and until is not None:
            params.update(since=since.isoformat(), until=until.isoformat())
        kpis = client.get("/cases/kpis", params=params)
        if kpis.status_code == 200:
            result.kpis = kpis.json()
    return result
