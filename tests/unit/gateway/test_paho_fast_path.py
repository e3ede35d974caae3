"""The start-up check of the paho internals the fast path relies on, and the fallback to
paho's public path when one has moved (gateway/ingest/client.py)."""

from __future__ import annotations

import logging

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gateway.config import MqttSettings
from gateway.ingest.client import (
    BufferedClient,
    PahoClient,
    fast_path_problem,
    in_packet_problem,
)
from gateway.ingest.mqtt import Inbox, MqttIngest
from gateway.runtime.stats import Health


def _fast() -> BufferedClient:
    return BufferedClient(
        CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True
    )


def _ingest(**settings: object) -> MqttIngest:
    health = Health()
    return MqttIngest(MqttSettings(**settings), ["gg/v1/+/reading"], Inbox(10, health), health)


def _disabled(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "mqtt_fast_path_disabled" in r.getMessage()]


def test_the_installed_paho_has_everything_the_fast_path_relies_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert fast_path_problem(_fast()) is None
    caplog.set_level(logging.INFO)
    ingest = _ingest()
    assert ingest.path == "fast"
    assert _disabled(caplog) == []


@pytest.mark.parametrize(
    ("name", "replacement", "reason"),
    [
        ("_sock_recv", lambda self, bufsize, flags: b"", "Client._sock_recv(self, bufsize, flags)"),
        ("_handle_publish", lambda self, packet: 0, "Client._handle_publish(self, packet)"),
        ("_packet_queue", None, "Client._packet_queue is missing"),
    ],
)
def test_a_moved_private_name_falls_back_to_the_public_path_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    name: str,
    replacement: object,
    reason: str,
) -> None:
    if replacement is None:
        monkeypatch.delattr(mqtt.Client, name)
    else:
        monkeypatch.setattr(mqtt.Client, name, replacement)
    problem = fast_path_problem(_fast())
    assert problem is not None
    assert reason in problem
    ingest = _ingest()
    assert ingest.path == "public"
    assert type(ingest._client) is PahoClient  # overrides nothing of paho
    [line] = _disabled(caplog)
    assert line.startswith(f"mqtt_fast_path_disabled reason=paho {reason}")


def test_a_client_not_built_for_manual_acks_is_not_fast_path_material() -> None:
    client = BufferedClient(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    assert fast_path_problem(client) == "paho Client._manual_ack does not say manual_ack=True"


def test_the_setting_forces_the_public_path(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    ingest = _ingest(fast_path=False)
    assert ingest.path == "public"
    assert type(ingest._client) is PahoClient
    assert _disabled(caplog) == [
        "mqtt_fast_path_disabled reason=the settings (mqtt.fast_path=false)"
    ]


def test_a_packet_in_reading_of_another_shape_is_found_when_the_socket_opens() -> None:
    client = _fast()
    client._in_packet = {"command": 0, "packet": bytearray()}  # as paho's reconnect() sets it
    assert in_packet_problem(client) is None
    client._in_packet = {"cmd": 0, "data": b""}
    assert in_packet_problem(client) == "paho Client._in_packet has no command and packet"


def test_with_the_fast_path_turned_off_in_place_every_override_hands_over_to_paho(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = _fast()
    client.is_fast = False
    acked: list[tuple[int, int]] = []
    monkeypatch.setattr(client, "ack", lambda mid, qos: acked.append((mid, qos)))
    monkeypatch.setattr(client, "_packet_queue", lambda *a: pytest.fail("fast PUBACKs"))
    client.ack_all([3, 4])
    assert acked == [(3, 1), (4, 1)]
    client._sock = None
    client._rbuf = b"buffered"
    with pytest.raises(ConnectionError):  # paho's own _sock_recv, not the buffer
        client._sock_recv(1)
    client.is_fast = True
    assert client._sock_recv(1) == b"b"
