"""The paho client MqttIngest drives: the fast path (`BufferedClient`) or paho's public path.

`BufferedClient` relies on internals of paho-mqtt 2.2 (pinned `~=2.2.0` in pyproject.toml):
`_sock_recv` is the one place paho reads the socket; `_packet_read` reads one packet
(ours frames a whole PUBLISH found in the buffer itself, with no `_sock_recv` a field
and no `_in_packet`, stamping `_last_bytes_received` under `_msgtime_mutex` as paho
does; anything else is paho's); `_handle_publish` decodes
`_in_packet` (anything but the common case is left to it); `_packet_queue` takes any bytes
to write (paho's own `ack` queues a 4-byte PUBACK through it per message); `_manual_ack`
and `_protocol` say how the client was built. `fast_path_problem` checks, once at start,
that each name exists and each method takes the parameters we call it with; on a mismatch
(a paho release that moved them) ingest logs one `mqtt_fast_path_disabled reason=...`
line and runs on `PahoClient`, which overrides nothing of paho: slower, still correct.
`_in_packet` exists only once paho opens a connection, so it is checked when the socket
opens; a mismatch there turns the fast path off in place (`BufferedClient.is_fast`).
"""

from __future__ import annotations

import inspect
import struct
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion

from gateway.config import MqttSettings

READ_CHUNK = 65536

# paho method -> the parameters BufferedClient overrides or calls it with, in order
FAST_PATH_METHODS: dict[str, tuple[str, ...]] = {
    "_handle_publish": ("self",),
    "_packet_read": ("self",),
    "_sock_recv": ("self", "bufsize"),
    "_packet_queue": ("self", "command", "packet", "mid", "qos"),
}
# what `_packet_read` stamps after each packet (paho's keepalive reads it)
FAST_PATH_ATTRIBUTES = ("_msgtime_mutex", "_last_bytes_received")
IN_PACKET_KEYS = ("command", "packet")

_PUBACK = struct.Struct("!BBH")  # type, remaining length 2, packet id: a v5 PUBACK, success


def log_in(client: mqtt.Client, settings: MqttSettings) -> None:
    """The broker login and TLS of `settings` on a client not connected yet."""
    if settings.username is not None:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    if settings.tls:
        client.tls_set(
            ca_certs=str(settings.ca_file) if settings.ca_file else None,
            certfile=str(settings.cert_file) if settings.cert_file else None,
            keyfile=str(settings.key_file) if settings.key_file else None,
        )
        client.tls_insecure_set(settings.tls_insecure)


def _parameters_problem(name: str, expected: tuple[str, ...]) -> str | None:
    method = getattr(mqtt.Client, name, None)
    if not callable(method):
        return f"paho Client.{name} is missing"
    try:
        parameters = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):
        return f"paho Client.{name} has no readable signature"
    names = tuple(p.name for p in parameters[: len(expected)])
    rest_required = [
        p.name
        for p in parameters[len(expected) :]
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if names != expected or rest_required:
        got = ", ".join(p.name for p in parameters)
        return f"paho Client.{name}({got}) is not ({', '.join(expected)})"
    return None


def fast_path_problem(client: mqtt.Client) -> str | None:
    """Why the fast path cannot run on this paho, or None. `client` is built with
    `manual_ack=True` and MQTT v5, and not connected yet."""
    for name, expected in FAST_PATH_METHODS.items():
        problem = _parameters_problem(name, expected)
        if problem is not None:
            return problem
    for name in FAST_PATH_ATTRIBUTES:
        if not hasattr(client, name):
            return f"paho Client.{name} is missing"
    if getattr(client, "_manual_ack", None) is not True:
        return "paho Client._manual_ack does not say manual_ack=True"
    if getattr(client, "_protocol", None) != MQTTProtocolVersion.MQTTv5:
        return "paho Client._protocol does not say MQTT v5"
    if getattr(mqtt, "PUBACK", None) != 0x40:
        return "paho.mqtt.client.PUBACK is not 0x40"
    return None


def in_packet_problem(client: mqtt.Client) -> str | None:
    """Why paho's packet being read is not the dict the fast path reads, or None."""
    in_packet = getattr(client, "_in_packet", None)
    if not isinstance(in_packet, dict) or not all(k in in_packet for k in IN_PACKET_KEYS):
        return f"paho Client._in_packet has no {' and '.join(IN_PACKET_KEYS)}"
    return None


class PahoClient(mqtt.Client):
    """paho's client through its public API only, with the few helpers MqttIngest calls."""

    on_publish_packet: Any = None  # (topic, payload, mid, qos, dup): the fast path's hand-over
    is_fast = False

    def reset_buffer(self) -> None:
        """A new connection starts clean (nothing buffered here)."""

    @property
    def has_buffered(self) -> bool:
        return False

    def ack_all(self, mids: list[int]) -> None:
        """PUBACK for every QoS 1 packet id in `mids`, one paho `ack` each."""
        for mid in mids:
            self.ack(mid, 1)


class BufferedClient(PahoClient):
    """paho's client, reading its socket through a buffer (gateway/ingest/mqtt.py's notes)."""

    is_fast = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0

    def reset_buffer(self) -> None:
        """Forget unread bytes (a new connection starts clean)."""
        self._rbuf = b""
        self._rpos = 0

    @property
    def has_buffered(self) -> bool:
        return self._rpos < len(self._rbuf)

    def ack_all(self, mids: list[int]) -> None:
        """PUBACK (success) for every QoS 1 packet id in `mids`, as one queued write."""
        if not self.is_fast:
            super().ack_all(mids)
        elif mids:
            data = b"".join([_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids])
            self._packet_queue(mqtt.PUBACK, data, 0, 1)

    def _handle_publish(self) -> MQTTErrorCode:
        take = self.on_publish_packet
        if not self.is_fast or take is None:
            return super()._handle_publish()
        decoded = self._decoded(self._in_packet["command"], self._in_packet["packet"])
        if decoded is None:
            return super()._handle_publish()
        take(*decoded)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _decoded(
        self, header: int, packet: bytes | bytearray
    ) -> tuple[str, bytes, int, int, bool] | None:
        """(topic, payload, mid, qos, dup) of a PUBLISH the fast path takes (QoS 0 or 1,
        no properties, manual acks on MQTT v5); None: paho's to decode."""
        qos = (header & 0x06) >> 1
        if qos == 2 or not self._manual_ack or self._protocol != MQTTProtocolVersion.MQTTv5:
            return None
        try:
            end = 2 + int.from_bytes(packet[:2], "big")
            topic = packet[2:end].decode()
            mid = 0
            if qos:
                mid = int.from_bytes(packet[end : end + 2], "big")
                end += 2
            has_properties = packet[end] != 0  # v5: the properties' length, 0 for none
        except (IndexError, UnicodeDecodeError):
            return None  # paho says what is wrong with it
        if has_properties or not topic:  # an empty topic: a v5 topic alias, paho's
            return None
        return topic, bytes(packet[end + 1 :]), mid, qos, bool(header & 0x08)

    def _packet_read(self) -> MQTTErrorCode:
        """A whole PUBLISH the buffer holds is taken from it in one go; anything else
        (another packet, one not all read yet, one paho must decode, a packet paho has
        begun) is paho's, which reads it from the same place through `_sock_recv`."""
        take = self.on_publish_packet
        buf = self._rbuf
        pos = self._rpos
        if not self.is_fast or take is None or pos >= len(buf) or self._in_packet["command"]:
            return super()._packet_read()
        header = buf[pos]
        if header & 0xF0 != mqtt.PUBLISH:
            return super()._packet_read()
        start = pos + 1
        length = 0
        shift = 0
        while True:  # the remaining length: 7 bits a byte, at most 4 bytes
            if start >= len(buf) or shift > 21:
                return super()._packet_read()
            byte = buf[start]
            start += 1
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
        end = start + length
        if end > len(buf):
            return super()._packet_read()
        decoded = self._decoded(header, buf[start:end])
        if decoded is None:
            return super()._packet_read()
        self._rpos = end
        with self._msgtime_mutex:
            self._last_bytes_received = time.monotonic()
        take(*decoded)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self.is_fast:
            return super()._sock_recv(bufsize)
        pos = self._rpos
        buf = self._rbuf
        if pos >= len(buf):
            buf = super()._sock_recv(READ_CHUNK)  # BlockingIOError when nothing is there
            if not buf:
                return buf  # the broker closed the connection
            self._rbuf = buf
            pos = 0
        end = pos + bufsize
        self._rpos = end
        return buf[pos:end]
