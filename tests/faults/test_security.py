"""The broker over TLS with passwords, and secrets that never show up in logs, API answers
or error messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from gateway.runtime.broker import LocalBroker, free_port
from tests.faults.figures import record
from tests.support import REPO, GatewayProcess, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration

MQTT_USER = "gridgate"
MQTT_PASSWORD = "mqtt-pw-Zq81-never-logged"  # noqa: S105  # the test's own secrets
WEBHOOK_SECRET = "hook-secret-Kp27-never-logged"  # noqa: S105
DINGTALK_SECRET = "SEC-dingtalk-Wx55-never-logged"  # noqa: S105
ADMIN = "admin-token-Lm90-never-logged"


def _run(*argv: str, cwd: Path) -> None:
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, timeout=30)


def _certificates(folder: Path) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1, made with openssl for this test."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ["-newkey", "rsa:2048", "-nodes"]
    _run("openssl", "req", "-x509", *key, "-days", "2", "-keyout", "ca.key", "-out", "ca.crt",
         "-subj", "/CN=gridgate test CA", cwd=folder)  # fmt: skip
    _run("openssl", "req", *key, "-keyout", "server.key", "-out", "server.csr",
         "-subj", "/CN=127.0.0.1", cwd=folder)  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    sign = ["-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2"]
    _run("openssl", "x509", "-req", "-in", "server.csr", *sign, "-out", "server.crt",
         "-extfile", "san.ext", cwd=folder)  # fmt: skip
    return {name: folder / name for name in ("ca.crt", "server.crt", "server.key")}


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    folder = tmp_path / "tls-broker"
    certs = _certificates(folder / "certs")
    passwords = folder / "passwd"
    _run("mosquitto_passwd", "-b", "-c", str(passwords), MQTT_USER, MQTT_PASSWORD, cwd=folder)
    broker = LocalBroker(folder, persistence=False)
    broker.config_path.write_text(
        f"listener {broker.port} 127.0.0.1\n"
        f"cafile {certs['ca.crt']}\ncertfile {certs['server.crt']}\nkeyfile {certs['server.key']}\n"
        f"allow_anonymous false\npassword_file {passwords}\nuser root\npersistence false\n"
        f"log_dest file {folder}/mosquitto.log\n"
    )
    broker.start()
    yield broker
    broker.stop()


def _tls_env(broker: LocalBroker, password: str) -> dict[str, str]:
    return {
        "GRIDGATE_MQTT__TLS": "true",
        "GRIDGATE_MQTT__CA_FILE": str(broker.directory / "certs" / "ca.crt"),
        "GRIDGATE_MQTT__USERNAME": MQTT_USER,
        "GRIDGATE_MQTT__PASSWORD": password,
    }


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_over_tls_with_a_password_it_works_and_secrets_never_leak(
    log_format: str,
    tls_broker: LocalBroker,
    topic_root: str,
    receiver: WebhookReceiver,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    receiver.status = 500  # failing deliveries write errors to the log
    dingtalk = f"http://127.0.0.1:{free_port()}/robot/send?access_token=tok-Yy31-never-logged"
    gw = gateways(
        tls_broker.port,
        topic_root,
        webhooks=[{"name": "ops", "url": receiver.url, "secret": WEBHOOK_SECRET}],
        extra_env={
            **_tls_env(tls_broker, MQTT_PASSWORD),
            "GRIDGATE_AUTH__ADMIN_TOKEN": ADMIN,
            "GRIDGATE_LOG__FORMAT": log_format,
            "GRIDGATE_CHANNELS": json.dumps(
                [{"type": "dingtalk", "name": "dt", "url": dingtalk, "secret": DINGTALK_SECRET}]
            ),
        },
    )
    assert gw.get("/health")["broker_connected"] is True  # over TLS, with the password
    # traffic over TLS: a smoke alert goes out (and fails) on both channels
    publish = [
        "mosquitto_pub", "-h", "127.0.0.1", "-p", str(tls_broker.port),
        "--cafile", str(tls_broker.directory / "certs" / "ca.crt"),
        "-u", MQTT_USER, "-P", MQTT_PASSWORD, "-q", "1",
        "-t", f"{topic_root}/v1/smoke-b1-u1/reading",
        "-m", '{"kind":"smoke","fields":{"smoke":true}}',
    ]  # fmt: skip
    subprocess.run(publish, check=True, timeout=10)
    wait_until(lambda: gw.get("/alerts"), 10, "the alert over TLS")
    wait_until(lambda: receiver.attempts >= 2, 10, "failed webhook attempts")

    answers = [
        gw.call("GET", "/health").text,
        gw.call("GET", "/openapi.json").text,
        gw.call("GET", "/alerts").text,
        gw.call("GET", "/outbox/dead").text,
        gw.call("GET", "/metrics").text,
        gw.call("GET", "/alerts/999").text,
        gw.call("POST", "/devices", json={"device_id": "x"}).text,
        httpx.get(gw.base_url + "/alerts", headers={"Authorization": "Bearer wrong"}).text,
    ]
    shown = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "config", "show"],
        env={**os.environ, **gw.env},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        check=True,
    )
    answers.append(shown.stdout + shown.stderr)
    gw.stop()
    log = (tmp_path / "gateway.log").read_text()
    if log_format == "json":  # every line an object, and the failures are in it
        entries = [json.loads(line) for line in log.splitlines()]
        assert any(e.get("event") == "delivery_retry" for e in entries)
    secrets = [MQTT_PASSWORD, WEBHOOK_SECRET, DINGTALK_SECRET, ADMIN, "tok-Yy31-never-logged"]
    for secret in secrets:
        assert secret not in log, secret
        for answer in answers:
            assert secret not in answer, (secret, answer[:200])
    record(
        f"secrets_{log_format}_logs",
        secrets_checked=len(secrets),
        places_checked=len(answers) + 1,
        leaks=0,
    )


def test_a_wrong_broker_password_is_reported_unhealthy_and_never_crashes(
    tls_broker: LocalBroker,
    topic_root: str,
    gateways: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    env = _tls_env(tls_broker, "not-the-password")
    gw = gateways(tls_broker.port, topic_root, extra_env=env, wait_connected=False)
    health = wait_until(
        lambda: (
            (h := gw.call("GET", "/health")).status_code == 503
            and "not authorized" in " ".join(h.json()["reasons"]).lower()
            and h.json()
        ),
        15,
        "a health answer naming the refusal",
    )
    assert health["broker_connected"] is False
    assert gw.process is not None
    assert gw.process.poll() is None  # still running, retrying with backoff
    assert "not-the-password" not in (tmp_path / "gateway.log").read_text()
