"""A small HTTP/1.1 client for webhook POSTs: kept-alive connections to one receiver.

The webhook is the channel that carries every alert event, hundreds a second in a storm;
through httpx a POST costs ~0.7 ms of CPU on this machine (request and response models,
auth and redirect layers, httpcore's pool and anyio streams), through this ~0.06 ms
(docs/benchmarks.md, "The 2026-12-04 run: the webhook's own HTTP client and a 4 ms
linger"). It does one thing: POST a body to the URL it was made for and answer the
status code.

- HTTP/1.1 over asyncio streams; TLS for https, verified against certifi's bundle or
  the files `SSL_CERT_FILE` / `SSL_CERT_DIR` name, as httpx does; user:password in the
  URL is sent as Basic authorization.
- Up to `max_connections` connections, reused while the receiver keeps them alive (an
  idle one is dropped after `IDLE_S`, or as soon as the receiver closed it); a request
  waits for a free connection rather than opening more.
- Responses framed by Content-Length, chunked, or (HTTP/1.0, `Connection: close`) by the
  receiver closing; 1xx interim responses skipped; the body is read and dropped, up to
  `MAX_BODY` (more: the connection is not reused).
- A reused connection the receiver had closed as the request went out (no byte of an
  answer came) is retried once on a new one: a receiver's keep-alive timeout must not
  turn into a retry a second later. Anything else that fails is `HttpFailure` with the
  reason, and the connection is closed; the outbox decides what follows.
- No redirects followed (a 3xx is an answer like any other) and no proxies: a webhook
  whose URL goes through a proxy (`HTTP(S)_PROXY`, `NO_PROXY`) is sent through httpx
  (gateway/channels/webhook.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import ssl
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

IDLE_S = 30.0  # an idle connection older than this is closed, not reused
MAX_HEAD = 64 * 1024  # status line and headers of one response
MAX_BODY = 1024 * 1024  # a response body read to keep the connection; more: closed
_READ = 64 * 1024
CLOSED_MID_ANSWER = "the receiver closed the connection mid-answer"


class HttpFailure(Exception):
    """No answer: connecting, sending or reading failed, or the answer was not HTTP."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind


@dataclass(frozen=True)
class Target:
    """Where the requests go, from the URL, once."""

    scheme: str
    host: str
    port: int
    head: bytes  # "POST <path> HTTP/1.1\r\nHost: ...\r\n" and authorization, if any

    @classmethod
    def of(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname
        shown = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            shown = f"{shown}:{parts.port}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = f"POST {path} HTTP/1.1\r\nHost: {shown}\r\n"
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            head += f"Authorization: Basic {base64.b64encode(pair.encode()).decode()}\r\n"
        return cls(parts.scheme, host, port, head.encode("ascii"))


def default_tls() -> ssl.SSLContext:
    """The trust store httpx would use: the environment's if it names one, else certifi's."""
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context()
    import certifi  # httpx's own dependency, needed for https only

    return ssl.create_default_context(cafile=certifi.where())


class _Link:
    """One connection and when it was last put back idle."""

    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def is_usable(self, now: float) -> bool:
        # the receiver closed it (its EOF was seen) or kept it idle too long: not reusable
        return (
            now - self.idle_since < IDLE_S
            and not self.writer.is_closing()
            and not self.reader.at_eof()
        )

    def close(self) -> None:
        self.writer.close()


class _Closed(Exception):
    """The receiver closed a reused connection before a byte of its answer came."""


class Http11Pool:
    def __init__(
        self,
        url: str,
        *,
        max_connections: int,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.target = Target.of(url)
        self._tls = (tls or default_tls()) if self.target.scheme == "https" else None
        self._idle: deque[_Link] = deque()
        self._slots = asyncio.Semaphore(max_connections)
        self.opened = 0  # connections opened since the start
        self.retried = 0  # requests sent again after a reused connection had closed

    async def post(self, body: bytes, headers: Mapping[str, str], timeout_s: float) -> int:
        """POST `body` with `headers`; the response's status code, or `HttpFailure`."""
        request = self._request(body, headers)
        async with self._slots:
            try:
                async with asyncio.timeout(timeout_s):
                    return await self._exchange(request)
            except TimeoutError:
                raise HttpFailure("Timeout", f"no answer within {timeout_s:g} s") from None

    def _request(self, body: bytes, headers: Mapping[str, str]) -> bytes:
        for name, value in headers.items():
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
                raise ValueError(f"header {name!r} holds a line break")
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return b"".join(
            (
                self.target.head,
                lines.encode("latin-1"),
                f"Content-Length: {len(body)}\r\n\r\n".encode("ascii"),
                body,
            )
        )

    async def _exchange(self, request: bytes) -> int:
        now = time.monotonic()
        while self._idle and not self._idle[0].is_usable(now):
            self._idle.popleft().close()  # the least recently used, gone stale
        while self._idle:
            link = self._idle.pop()  # the most recently used: the likeliest still open
            if link.is_usable(now):
                try:
                    return await self._on(link, request, reused=True)
                except _Closed:
                    self.retried += 1
                    break
            link.close()
        return await self._on(await self._open(), request, reused=False)

    async def _open(self) -> _Link:
        target = self.target
        try:
            reader, writer = await asyncio.open_connection(
                target.host,
                target.port,
                ssl=self._tls,
                server_hostname=target.host if self._tls else None,
                limit=MAX_HEAD,
            )
        except ssl.SSLError as exc:
            raise HttpFailure("TLSError", str(exc)) from None
        except OSError as exc:
            raise HttpFailure("ConnectError", str(exc) or type(exc).__name__) from None
        self.opened += 1
        return _Link(reader, writer)

    async def _on(self, link: _Link, request: bytes, *, reused: bool) -> int:
        keep = False
        first: bytes | None = None  # the answer's head, once read
        try:
            link.writer.write(request)
            await link.writer.drain()
            first = await link.reader.readuntil(b"\r\n\r\n")
            status, keep = await _response(link.reader, first)
            return status
        except asyncio.LimitOverrunError:
            raise HttpFailure("ProtocolError", "response headers too long") from None
        except (OSError, asyncio.IncompleteReadError) as exc:
            if reused and first is None and not isinstance(exc, ssl.SSLError) and not _partial(exc):
                raise _Closed from None  # not a byte of an answer: the receiver had closed it
            raise HttpFailure("ReadError", _reason(exc)) from None
        finally:
            if keep:
                link.idle_since = time.monotonic()
                self._idle.append(link)
            else:
                link.close()

    async def aclose(self) -> None:
        while self._idle:
            link = self._idle.pop()
            link.close()
            await _closed(link)


async def _closed(link: _Link) -> None:
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        await link.writer.wait_closed()


def _partial(exc: BaseException) -> bytes:
    return exc.partial if isinstance(exc, asyncio.IncompleteReadError) else b""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.IncompleteReadError):
        return CLOSED_MID_ANSWER
    return str(exc) or type(exc).__name__


async def _response(reader: asyncio.StreamReader, head: bytes) -> tuple[int, bool]:
    """(status, whether the connection may be reused) of the answer whose head is read;
    its body is read and dropped. 1xx interim answers are skipped."""
    while True:
        status, version, fields = _parse_head(head)
        if status >= 200 or status == 101:
            break
        head = await reader.readuntil(b"\r\n\r\n")
    connection = fields.get("connection", "").lower()
    keep = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
    if status in (204, 304) or status < 200:
        return status, keep and status != 101
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return status, keep and await _chunked(reader)
    length = fields.get("content-length")
    if length is None:  # the body runs until the receiver closes (read `MAX_BODY` at most)
        await _drop(reader, MAX_BODY)
        return status, False
    if not length.isdigit():
        raise HttpFailure("ProtocolError", f"bad Content-Length {length[:40]!r}")
    size = int(length)
    if size > MAX_BODY:
        return status, False
    await _drop(reader, size, exact=True)
    return status, keep


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    text = head.decode("latin-1")
    status_line, _, rest = text.partition("\r\n")
    version, _, tail = status_line.partition(" ")
    code = tail[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit() or tail[3:4] not in ("", " "):
        raise HttpFailure("ProtocolError", f"not an HTTP/1.x status line: {status_line[:80]!r}")
    fields: dict[str, str] = {}
    for line in rest.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return int(code), version, fields


async def _drop(reader: asyncio.StreamReader, size: int, *, exact: bool = False) -> None:
    """Read `size` bytes (exact), or until the end but `size` at most; keep none."""
    left = size
    while left > 0:
        chunk = await reader.read(min(left, _READ))
        if not chunk:
            if exact:
                raise HttpFailure("ReadError", CLOSED_MID_ANSWER)
            return
        left -= len(chunk)


async def _chunked(reader: asyncio.StreamReader) -> bool:
    """Read a chunked body and its trailers; whether the connection may be reused (not
    when the body outgrows `MAX_BODY`: it is not read to the end)."""
    total = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HttpFailure("ProtocolError", f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            break
        total += size
        if total > MAX_BODY:
            return False
        await _drop(reader, size + 2, exact=True)  # the chunk and its CRLF
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, up to the empty line
        pass
    return True
