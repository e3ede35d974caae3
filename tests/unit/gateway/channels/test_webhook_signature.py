"""The webhook signature a receiver checks: HMAC-SHA256 over `timestamp.body`."""

from __future__ import annotations

import hashlib
import hmac

from gateway.channels.webhook import signature


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = '{"version": 1, "event": "alert.raised", "place": "阳光社区"}'.encode()
    secret = "s3cr3t-ключ"  # noqa: S105  # a test key, not a credential

    expected = hmac.new(secret.encode(), b"1764046800." + body, hashlib.sha256).hexdigest()

    assert signature(secret, "1764046800", body) == f"sha256={expected}"


def test_signature_changes_with_timestamp_body_and_secret() -> None:
    base = signature("a", "1", b"{}")

    assert signature("a", "2", b"{}") != base
    assert signature("a", "1", b"{ }") != base
    assert signature("b", "1", b"{}") != base
    # the separator keeps timestamp and body apart: "1" + "2{}" is not "12" + "{}"
    assert signature("a", "1", b"2{}") != signature("a", "12", b"{}")
