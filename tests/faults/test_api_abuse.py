"""API abuse: generated requests (schemathesis, every operation of the served OpenAPI
schema, valid tokens of each role) never get a 5xx; no token or another grid's token is
refused on every alert, door, lift and device endpoint; an oversized body gets 413."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.faults.conftest import TwoGrids
from tests.faults.figures import record

pytestmark = pytest.mark.integration

# the event stream never ends by itself: a generated request would wait for the timeout
SKIPPED = {("GET", "/events"), ("GET", "/cases/events")}
# roles in an order where a generated request cannot take a later role's token away:
# people tokens first, the admin (its token comes from the environment) last
ROLES = ("w-g1", "l-g1", "admin")
EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 10}
G1_DEVICES = {"door-b1-u1", "smoke-b1-u1"}
SCOPED_PREFIXES = ("/alerts", "/doors", "/lifts", "/devices")
# a body each action would accept, so the refusal is about who asks, not what is sent
BODIES: dict[tuple[str, str], object] = {
    ("POST", "/alerts/{alert_id}/resolve"): {"resolution": "false_alarm"},
    ("POST", "/alerts/{alert_id}/assign"): {"person_id": "w-g2"},
    ("POST", "/alerts/{alert_id}/comments"): {"text": "看过了"},
}


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for path, item in schema["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "delete", "patch"):
                yield method.upper(), path


def _fuzz(
    operation: Any,  # schemathesis.APIOperation
    mode: GenerationMode,
    base_url: str,
    role: str,
    token: str,
    failures: list[str],
) -> int:
    """Send up to EXAMPLES[mode] generated requests as `role`; note each 5xx. Returns how
    many were sent."""
    sent = 0
    headers = {"Authorization": f"Bearer {token}"}

    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:  # schemathesis.Case
        nonlocal sent
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        sent += 1
        if response.status_code >= 500:
            failures.append(
                f"{role} {case.method} {case.formatted_path} -> "
                f"{response.status_code}: {response.text[:200]}"
                f"\n  {case.as_curl_command()}"
            )

    try:
        run()
    except Unsatisfiable:
        # nothing to make invalid (no parameters, no body): the valid examples cover it
        assert mode == GenerationMode.NEGATIVE, operation.label
    return sent


# ~50 operations (the cases' among them) x 30 examples for each role: one test per role,
# in ROLES' order, so that a parallel run can spread them
@pytest.mark.long
@pytest.mark.timeout(240)
@pytest.mark.parametrize("role", ROLES)
def test_generated_requests_of_every_role_never_get_a_server_error(
    two_grids: TwoGrids, role: str
) -> None:
    gw = two_grids.gw
    schema = schemathesis.openapi.from_dict(gw.get("/openapi.json"))
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())  # type: ignore[union-attr]  # Err has no ok(): an invalid schema fails loudly here
        if (op.method.upper(), op.path) not in SKIPPED
    ]
    failures: list[str] = []
    sent = 0
    started = time.monotonic()
    for operation in operations:
        for mode in EXAMPLES:
            sent += _fuzz(operation, mode, gw.base_url, role, two_grids.tokens[role], failures)
    assert failures == []
    assert gw.call("GET", "/health").status_code == 200  # still standing
    record(
        f"api_fuzz_{role}",
        operations=len(operations),
        role=role,
        requests=sent,
        server_errors=len(failures),
        seconds=round(time.monotonic() - started, 1),
        skipped=sorted(f"{m} {p}" for m, p in SKIPPED),
    )


def test_no_token_or_another_grids_token_is_refused_on_every_alert_door_and_device_endpoint(
    two_grids: TwoGrids,
) -> None:
    gw = two_grids.gw
    other = {"Authorization": f"Bearer {two_grids.tokens['w-g2']}"}
    values = {"alert_id": str(two_grids.g1_alert_id), "device_id": "door-b1-u1"}
    checked = []
    for method, path in _operations(gw.get("/openapi.json")):
        if not path.startswith(SCOPED_PREFIXES):
            continue
        url = gw.base_url + path.format(**values)
        anonymous = httpx.request(method, url, timeout=5)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        body = BODIES.get((method, path), {}) if method in ("POST", "PUT") else None
        response = httpx.request(method, url, headers=other, json=body, timeout=5)
        if method == "GET" and "{" not in path and path != "/devices/unregistered":
            # a list: answered, with nothing of the other grid in it
            assert response.status_code == 200, (method, path, response.text)
            seen = {item.get("device_id") for item in response.json()}
            assert not seen & G1_DEVICES, (path, seen)
        elif "{alert_id}" in path:
            # exactly the answer for an alert that does not exist: ids cannot be probed
            missing_id = two_grids.g1_alert_id + 10_000
            missing = httpx.request(
                method, gw.base_url + path.format(**{**values, "alert_id": missing_id}),
                headers=other, json=body, timeout=5,
            )  # fmt: skip
            assert response.status_code == missing.status_code == 404, (method, path)
            assert response.json()["detail"].replace(str(two_grids.g1_alert_id), "N") == (
                missing.json()["detail"].replace(str(missing_id), "N")
            )
        else:
            assert response.status_code == 403, (method, path, response.text)
        checked.append(f"{method} {path}")
    assert len(checked) >= 10
    record("scoping", endpoints_checked=len(checked), refused_or_filtered=len(checked))


def test_an_oversized_body_is_refused_with_413_before_it_is_read(two_grids: TwoGrids) -> None:
    gw = two_grids.gw
    big = b"x" * (5 * 1024 * 1024)
    declared = gw.call("POST", "/devices/import", content=big, headers={"Content-Type": "text/csv"})
    assert declared.status_code == 413
    assert "detail" in declared.json()

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts as it reads
        for _ in range(80):
            yield b"y" * 65536

    streamed = gw.call(
        "POST",
        f"/alerts/{two_grids.g1_alert_id}/comments",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    assert gw.call("GET", "/health").status_code == 200
    record("body_limit", body_bytes=len(big), status=declared.status_code)
