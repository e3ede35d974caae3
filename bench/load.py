"""A load publisher: door readings at a fixed rate, in a process of its own.

Every message is a native gridgate reading stamped with the wall clock at sending. Most
are re-reports of a closed door (heartbeats) spread round-robin over `device_ids`; the
`incidents` doors are opened at their instant and left open, with no heartbeat
meanwhile, so each is a door_left_open the gateway must raise. QoS 1; 127.0.0.1 only;
bounded by `duration_s`.

The publisher speaks MQTT 3.1.1 on a plain socket and writes each burst of PUBLISH
packets with one `sendall`: a load generator on the same 2 CPUs as the broker and the
gateway should spend as little of them as it can (paho's publish() costs about as much
CPU per message as the subscriber under test, and would measure itself, not the gateway).
PUBACKs are read on a second thread; packet ids are never reused while in flight.
"""

from __future__ import annotations

import itertools
import socket
import struct
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection

TICK_S = 0.002
BURST_MAX = 2000
MAX_INFLIGHT = 60_000  # below the 65,535 packet ids


@dataclass(frozen=True)
class Step:
    port: int
    root: str
    device_ids: list[str]
    rate: float
    duration_s: float
    incidents: list[tuple[str, float]]  # (device_id, open at this many seconds in)
    client_id: str


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def connect_packet(client_id: str) -> bytes:
    body = _utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0) + _utf8(client_id)
    return b"\x10" + _varint(len(body)) + body


def publish_packet(topic: bytes, mid: int, payload: bytes) -> bytes:
    """PUBLISH, QoS 1; `topic` already length-prefixed."""
    rest = len(topic) + 2 + len(payload)
    return b"\x32" + _varint(rest) + topic + mid.to_bytes(2, "big") + payload


def _payload(is_open: bool) -> bytes:
    at = datetime.now(UTC).isoformat(timespec="milliseconds")
    state = b"true" if is_open else b"false"
    return b'{"kind":"door","event_at":"' + at.encode() + b'","fields":{"open":' + state + b"}}"


class Publisher:
    """One MQTT connection that publishes QoS 1 and counts PUBACKs."""

    def __init__(self, port: int, client_id: str) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.sendall(connect_packet(client_id))
        connack = self._recv_exactly(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"broker refused the publisher: CONNACK {connack.hex()}")
        self._sock.settimeout(None)
        self.acked = 0
        self._mid = 0
        self._reader = threading.Thread(target=self._read_acks, daemon=True)
        self._reader.start()

    def _recv_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data

    def _read_acks(self) -> None:
        # a QoS 1 publisher only ever gets PUBACKs: 4 bytes each (no keepalive, no pings)
        spare = 0
        while True:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            spare += len(chunk)
            self.acked += spare // 4
            spare %= 4

    def packets(self, topics: list[bytes], payload: bytes) -> bytes:
        out = []
        for topic in topics:
            self._mid = self._mid % 65535 + 1
            out.append(publish_packet(topic, self._mid, payload))
        return b"".join(out)

    def send(self, data: bytes, count: int, sent_before: int) -> None:
        while sent_before + count - self.acked > MAX_INFLIGHT:
            time.sleep(0.001)
        self._sock.sendall(data)

    def wait_acked(self, sent: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.acked < sent:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self) -> None:
        try:
            self._sock.sendall(b"\xe0\x00")  # DISCONNECT
        finally:
            self._sock.close()


def run(step: Step, out: Connection) -> None:
    """Publish for `duration_s`; send back (sent, elapsed_s, opens: [(device_id, event_at)])."""
    publisher = Publisher(step.port, step.client_id)
    held = {d for d, _ in step.incidents}
    topic_of = {d: _utf8(f"{step.root}/v1/{d}/reading") for d in step.device_ids}
    pool = itertools.cycle([topic_of[d] for d in step.device_ids if d not in held])
    pending = sorted(step.incidents, key=lambda i: i[1])
    opens: list[tuple[str, str]] = []
    sent = 0
    t0 = time.monotonic()
    while True:
        elapsed = time.monotonic() - t0
        if elapsed >= step.duration_s:
            break
        while pending and pending[0][1] <= elapsed:
            device_id, _ = pending.pop(0)
            payload = _payload(True)
            publisher.send(publisher.packets([topic_of[device_id]], payload), 1, sent)
            opens.append((device_id, payload.split(b'"')[7].decode()))
            sent += 1
        due = int(elapsed * step.rate) - sent
        if due <= 0:
            time.sleep(TICK_S)
            continue
        n = min(due, BURST_MAX)
        payload = _payload(False)  # one stamp per burst: cheap, and never goes backwards
        publisher.send(publisher.packets(list(itertools.islice(pool, n)), payload), n, sent)
        sent += n
    elapsed = time.monotonic() - t0
    # the incident doors stay open: their alerts fall due after the step (the next step's
    # heartbeats close them again)
    publisher.wait_acked(sent, 30)
    publisher.close()
    out.send((sent, elapsed, opens))
    out.close()
