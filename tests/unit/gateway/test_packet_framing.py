"""The fast path frames whole PUBLISH packets straight from its read buffer; whatever it
does not take (another packet type, properties, QoS 2, a packet cut by the end of a read)
paho reads from the same place: every packet once, in order, whatever the chunking."""

from __future__ import annotations

import struct

import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from gateway.ingest.client import BufferedClient

Taken = tuple[str, bytes, int, int, bool]


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish(topic: str, payload: bytes, *, qos: int = 1, mid: int = 0, props: bytes = b"",
            dup: bool = False) -> bytes:  # fmt: skip
    name = topic.encode()
    body = struct.pack("!H", len(name)) + name
    if qos:
        body += struct.pack("!H", mid)
    body += _length(len(props)) + props + payload
    return bytes([0x30 | (qos << 1) | (0x08 if dup else 0)]) + _length(len(body)) + body


class _Socket:
    """What the broker sent, in the chunks a socket read would return them."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def recv(self, _size: int) -> bytes:
        if not self.chunks:
            raise BlockingIOError
        return self.chunks.pop(0)

    def close(self) -> None:
        """paho closes its socket when the client is collected."""


def _client(chunks: list[bytes]) -> tuple[BufferedClient, list[Taken], list[str]]:
    client = BufferedClient(
        CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True
    )
    client._in_packet = {  # as paho's reconnect() sets it
        "command": 0, "have_remaining": 0, "remaining_count": [], "remaining_mult": 1,
        "remaining_length": 0, "packet": bytearray(b""), "to_process": 0, "pos": 0,
    }  # fmt: skip
    client._sock = _Socket(chunks)
    taken: list[Taken] = []
    by_paho: list[str] = []
    client.on_publish_packet = lambda *packet: taken.append(packet)
    client.on_message = lambda _c, _u, message: by_paho.append(message.topic)
    return client, taken, by_paho


def _read_all(client: BufferedClient) -> None:
    """Read as the ingest does: again while bytes wait (paho answers AGAIN after a
    hundred short reads of one packet, and when the socket has nothing more)."""
    socket = client._sock
    assert isinstance(socket, _Socket)
    for _ in range(10_000):
        rc = client._packet_read()
        assert rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN)
        if rc == MQTTErrorCode.MQTT_ERR_AGAIN and not socket.chunks and not client.has_buffered:
            return
    pytest.fail("the reads never ran dry")


STREAM = [
    publish("z2m/door-1", b'{"contact": false}', mid=1),
    publish("z2m/door-2", b'{"contact": true}', qos=0),
    publish("z2m/door-3", b"{}", mid=3, props=b"\x23\x00\x05"),  # a topic alias: paho's
    b"\xd0\x00",  # PINGRESP
    publish("z2m/door-4", b"x" * 300, mid=4, dup=True),  # a two-byte remaining length
    publish("z2m/door-5", b'{"contact": false}', mid=5),
]


@pytest.mark.parametrize("cut", [None, 1, 2, 3, 7, 25, 64, 333])
def test_every_packet_is_read_once_in_order_however_the_reads_cut_the_stream(
    cut: int | None,
) -> None:
    data = b"".join(STREAM)
    chunks = [data] if cut is None else [data[i : i + cut] for i in range(0, len(data), cut)]
    client, taken, by_paho = _client(chunks)

    _read_all(client)

    assert [t[0] for t in taken] == ["z2m/door-1", "z2m/door-2", "z2m/door-4", "z2m/door-5"]
    assert taken[0] == ("z2m/door-1", b'{"contact": false}', 1, 1, False)
    assert taken[1] == ("z2m/door-2", b'{"contact": true}', 0, 0, False)
    assert taken[2] == ("z2m/door-4", b"x" * 300, 4, 1, True)
    assert by_paho == ["z2m/door-3"]
    assert not client.has_buffered
    assert client._in_packet["command"] == 0  # at a packet boundary


def test_whole_packets_in_the_buffer_are_framed_without_paho(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, taken, _ = _client([b"".join(STREAM[:2]) + STREAM[4]])
    paho_reads: list[int] = []
    original = BufferedClient._sock_recv

    def counted(self: BufferedClient, size: int) -> bytes:
        paho_reads.append(size)
        return original(self, size)

    monkeypatch.setattr(BufferedClient, "_sock_recv", counted)
    client._rbuf, client._rpos = client._sock.recv(0), 0  # what one socket read brought

    for _ in range(3):
        assert client._packet_read() == MQTTErrorCode.MQTT_ERR_SUCCESS

    assert len(taken) == 3
    assert paho_reads == []  # not a field at a time through paho
    assert client._last_bytes_received > 0  # the keepalive sees traffic
