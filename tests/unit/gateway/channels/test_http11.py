"""The webhook's HTTP/1.1 client against real local servers over real sockets: framing
of answers, keep-alive reuse, a receiver closing connections, timeouts, TLS, limits."""

from __future__ import annotations

import asyncio
import base64
import functools
import ssl
import subprocess
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from gateway.channels import http11
from gateway.channels.http11 import Http11Pool, HttpFailure, Target


def on_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """The async test run on a loop of its own, 20 s at most."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), 20))

    return run


Answer = Callable[[int, bytes], Awaitable[bytes | None]]  # (nth request on link, request)


class Server:
    """Reads whole requests (Content-Length bodies), answers what `answer` returns (None:
    close without a word)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections = 0
        self.open_now = 0
        self.open_max = 0
        self.close_after_reply = False  # a body framed by the end of the connection
        self._server: asyncio.Server | None = None

    async def start(self, tls: ssl.SSLContext | None = None) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        port = self._server.sockets[0].getsockname()[1]
        return f"{'https' if tls else 'http'}://127.0.0.1:{port}/hook?x=1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.open_max = max(self.open_max, self.open_now)
        try:
            nth = 0
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                reply = await self.answer(nth, request)
                nth += 1
                if reply is None:
                    return
                writer.write(reply)
                await writer.drain()
                if self.close_after_reply:
                    return
        finally:
            self.open_now -= 1
            writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()


def ok(body: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)


async def always(reply: bytes, after_s: float = 0.0) -> Server:
    """A server that answers every request `reply`, `after_s` after it came."""

    async def answer(_nth: int, _request: bytes) -> bytes:
        if after_s:
            await asyncio.sleep(after_s)
        return reply

    return Server(answer)


HEADERS = {"Content-Type": "application/json", "Idempotency-Key": "k:1"}


@on_loop
async def test_posts_reuse_one_kept_alive_connection_and_send_the_request_as_given() -> None:
    server = await always(ok(b'{"ok": true}'))
    url = await server.start()
    pool = Http11Pool(url, max_connections=4)

    statuses = [await pool.post(b'{"n": %d}' % i, HEADERS, 5) for i in range(5)]

    assert statuses == [200] * 5
    assert server.connections == 1
    assert pool.opened == 1
    head, _, body = server.requests[3].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /hook?x=1 HTTP/1.1"
    assert f"Host: {url.split('/')[2]}" in lines
    assert "Idempotency-Key: k:1" in lines
    assert "Content-Length: 8" in lines
    assert body == b'{"n": 3}'
    await pool.aclose()
    await server.stop()


@pytest.mark.parametrize(
    ("reply", "reused"),
    [
        (b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello", True),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
            True,
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n", True),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", True),
    ],
)
@on_loop
async def test_each_framing_of_an_answer_is_read_whole_before_the_next(
    reply: bytes, reused: bool
) -> None:
    server = await always(reply)
    url = await server.start()
    pool = Http11Pool(url, max_connections=1)

    first = [await pool.post(b"{}", HEADERS, 5) for _ in range(3)]

    status = int(reply.rsplit(b"HTTP/1.", 1)[1][2:5])
    assert first == [status] * 3  # a body left unread would be taken for the next answer
    assert server.connections == (1 if reused else 3)
    await pool.aclose()
    await server.stop()


@on_loop
async def test_a_body_that_runs_until_close_is_answered_and_the_connection_not_reused() -> None:
    server = await always(b"HTTP/1.0 200 OK\r\n\r\nthe body runs to the end")
    server.close_after_reply = True
    url = await server.start()
    pool = Http11Pool(url, max_connections=1)

    assert [await pool.post(b"{}", HEADERS, 5) for _ in range(2)] == [200, 200]

    assert server.connections == 2
    assert pool.retried == 0
    await pool.aclose()
    await server.stop()


@on_loop
async def test_a_reused_connection_closed_by_the_receiver_is_retried_once_on_a_new_one() -> None:
    async def answer(nth: int, _request: bytes) -> bytes | None:
        return ok() if nth == 0 else None  # each link answers once, then closes unanswered

    server = Server(answer)
    url = await server.start()
    pool = Http11Pool(url, max_connections=1)

    assert [await pool.post(b"{}", HEADERS, 5) for _ in range(3)] == [200] * 3

    assert pool.retried == 2
    assert server.connections == 3
    assert len(server.requests) == 5  # 3 answered + 2 that met a closing connection
    await pool.aclose()
    await server.stop()


@on_loop
async def test_a_new_connection_closed_unanswered_is_a_failure_not_a_loop() -> None:
    async def answer(_nth: int, _request: bytes) -> bytes | None:
        return None

    server = Server(answer)
    url = await server.start()
    pool = Http11Pool(url, max_connections=1)

    with pytest.raises(HttpFailure, match="ReadError") as caught:
        await pool.post(b"{}", HEADERS, 5)

    assert caught.value.kind == "ReadError"
    assert server.connections == 1
    await server.stop()


@on_loop
async def test_no_answer_within_the_timeout_fails_in_time_and_the_link_is_dropped() -> None:
    asked: list[bytes] = []

    async def answer(_nth: int, request: bytes) -> bytes | None:
        asked.append(request)
        if len(asked) == 1:
            await asyncio.sleep(10)
        return ok()

    server = Server(answer)
    url = await server.start()
    pool = Http11Pool(url, max_connections=1)

    started = time.monotonic()
    with pytest.raises(HttpFailure, match=r"Timeout: no answer within 0.3 s"):
        await pool.post(b"{}", HEADERS, 0.3)
    assert time.monotonic() - started < 2

    assert await pool.post(b"{}", HEADERS, 5) == 200  # a new connection: the late answer
    assert server.connections == 2  # of the first can never be read as this one's
    await pool.aclose()
    await server.stop()


@on_loop
async def test_refused_connection_and_a_non_http_answer_are_failures_with_the_reason() -> None:
    server = await always(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    url = await server.start()
    await server.stop()
    await asyncio.sleep(0.05)
    with pytest.raises(HttpFailure, match="ConnectError"):
        await Http11Pool(url, max_connections=1).post(b"{}", HEADERS, 5)

    server = await always(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    url = await server.start()
    with pytest.raises(HttpFailure, match=r"ProtocolError: not an HTTP/1\.x status line"):
        await Http11Pool(url, max_connections=1).post(b"{}", HEADERS, 5)
    await server.stop()


@on_loop
async def test_endless_headers_and_bad_framing_are_protocol_errors() -> None:
    for reply, reason in [
        (b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 70_000 + b"\r\n\r\n", "headers too long"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    ]:
        server = await always(reply)
        url = await server.start()
        with pytest.raises(HttpFailure, match=reason):
            await Http11Pool(url, max_connections=1).post(b"{}", HEADERS, 5)
        await server.stop()


@on_loop
async def test_concurrent_posts_never_open_more_than_max_connections() -> None:
    server = await always(ok(), after_s=0.02)
    url = await server.start()
    pool = Http11Pool(url, max_connections=3)

    statuses = await asyncio.gather(*(pool.post(b"{}", HEADERS, 5) for _ in range(30)))

    assert statuses == [200] * 30
    assert server.open_max == 3
    assert pool.opened == 3
    await pool.aclose()
    await server.stop()


@on_loop
async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    server = await always(ok())
    url = await server.start()
    pool = Http11Pool(url, max_connections=1)

    with pytest.raises(ValueError, match="line break"):
        await pool.post(b"{}", {"X-Event": "a\r\nX-Injected: 1"}, 5)

    assert server.requests == []
    await server.stop()


def test_the_target_is_read_from_the_url_once() -> None:
    plain = Target.of("http://example.org/a/b?c=d")
    assert (plain.scheme, plain.host, plain.port) == ("http", "example.org", 80)
    assert plain.head == b"POST /a/b?c=d HTTP/1.1\r\nHost: example.org\r\n"

    v6 = Target.of("https://[::1]:8443")
    assert (v6.host, v6.port) == ("::1", 8443)
    assert v6.head == b"POST / HTTP/1.1\r\nHost: [::1]:8443\r\n"

    auth = Target.of("http://ops%40grid:p%3Ass@example.org:8080/h")
    token = base64.b64encode(b"ops@grid:p:ss").decode()
    assert auth.head.decode().endswith(
        f"Host: example.org:8080\r\nAuthorization: Basic {token}\r\n"
    )

    with pytest.raises(ValueError, match="not an http"):
        Target.of("ftp://example.org/")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@on_loop
async def test_https_is_verified_against_the_trust_store(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert, key)
    server = await always(ok())
    url = await server.start(tls=served)

    trusting = ssl.create_default_context(cafile=str(cert))
    pool = Http11Pool(url, max_connections=1, tls=trusting)
    assert [await pool.post(b"{}", HEADERS, 5) for _ in range(2)] == [200, 200]
    assert server.connections == 1
    await pool.aclose()

    with pytest.raises(HttpFailure, match="TLSError"):  # certifi does not know this one
        await Http11Pool(url, max_connections=1).post(b"{}", HEADERS, 5)
    await server.stop()


@on_loop
async def test_connections_idle_too_long_are_closed_not_reused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http11, "IDLE_S", 0.5)

    server = await always(ok(), after_s=0.02)
    url = await server.start()
    pool = Http11Pool(url, max_connections=2)
    assert await asyncio.gather(*(pool.post(b"{}", HEADERS, 5) for _ in range(2))) == [200] * 2
    assert server.open_now == 2
    await asyncio.sleep(0.3)
    assert await pool.post(b"{}", HEADERS, 5) == 200  # the newer link, idle again from here
    await asyncio.sleep(0.3)  # the older one idle 0.6 s now, past IDLE_S; the newer 0.3 s

    assert await pool.post(b"{}", HEADERS, 5) == 200
    await asyncio.sleep(0.05)

    assert pool.opened == 2  # the newer link served both
    assert server.open_now == 1  # and the stale one was closed, not left open
    await asyncio.sleep(0.6)
    assert await pool.post(b"{}", HEADERS, 5) == 200
    assert pool.opened == 3  # past IDLE_S the last one is not reused either
    await pool.aclose()
    await server.stop()
