"""A webhook receiver for the benchmark: HTTP/1.1 keep-alive, records every POST's arrival.

It runs in a process of its own on an asyncio loop with a minimal HTTP/1.1 parser
(request line, headers, Content-Length body; keep-alive unless `Connection: close`) and
answers `200` with an empty body at once. It does no JSON work while a step runs: each
request is kept as (arrival epoch seconds, Idempotency-Key, X-Gridgate-Event, body bytes)
and the driver decodes them later (bench/door_score.py reads version 1 and version 2
bodies). So that the receiver is never what limits a step, it measures itself: requests
and bytes taken, and the loop's lag (a 10 ms ticker's overshoot: a receiver starved of
CPU would show it there); its CPU time is read by the driver from /proc.

The driver talks to it over a Pipe: "take" returns what arrived since the last "take"
with the stats since then; "stop" ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
TICK_S = 0.01

Record = tuple[float, str | None, str | None, bytes]


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: list[Record] = []
        self.requests = 0
        self.connections = 0
        self.lag_max_s = 0.0
        self.bad = 0

    def take(self) -> tuple[list[Record], dict[str, float]]:
        with self.lock:
            records, self.records = self.records, []
            stats = {
                "requests": self.requests,
                "connections": self.connections,
                "loop_lag_max_s": self.lag_max_s,
                "bad_requests": self.bad,
            }
            self.requests = self.bad = 0
            self.lag_max_s = 0.0
        return records, stats


class _Http(asyncio.Protocol):
    def __init__(self, state: _State) -> None:
        self._state = state
        self._buf = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        with self._state.lock:
            self._state.connections += 1

    def data_received(self, data: bytes) -> None:
        self._buf += data
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._buf[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self._buf) < end + 4 + length:
                return
            body = self._buf[end + 4 : end + 4 + length]
            self._buf = self._buf[end + 4 + length :]
            arrived = time.time()
            is_post = head[0].startswith("POST ")
            with self._state.lock:
                self._state.requests += 1
                if is_post:
                    self._state.records.append(
                        (arrived, headers.get("idempotency-key"), headers.get("x-gridgate-event"),
                         body)
                    )  # fmt: skip
                else:
                    self._state.bad += 1
            assert self._transport is not None
            self._transport.write(RESPONSE)
            if headers.get("connection", "").lower() == "close":
                self._transport.close()
                return


def in_process() -> Callable[[], asyncio.Protocol]:
    """This receiver's protocol for a server on the caller's own loop, keeping what
    arrives where nobody reads it (bench/webhook_client.py measures clients against it)."""
    state = _State()
    return lambda: _Http(state)


async def _tick(state: _State, stop: asyncio.Event) -> None:
    expected = time.monotonic() + TICK_S
    while not stop.is_set():
        await asyncio.sleep(TICK_S)
        now = time.monotonic()
        lag = now - expected
        if lag > state.lag_max_s:
            with state.lock:
                state.lag_max_s = max(state.lag_max_s, lag)
        expected = now + TICK_S


PRIORITY = -5  # nice: the receiver is a measuring instrument, stamped on arrival


def run(conn: Connection) -> None:
    """Serve on a free port of 127.0.0.1 (sent first over `conn`), answer commands.

    It asks for a higher CPU priority than the processes it measures (it needs a few % of
    a core), so that a machine kept busy by the target delays its arrival stamps less."""
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, 0, PRIORITY)
    state = _State()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    server = loop.run_until_complete(
        loop.create_server(lambda: _Http(state), "127.0.0.1", 0, backlog=256)
    )
    conn.send(server.sockets[0].getsockname()[1])

    def commands() -> None:
        while True:
            command = conn.recv()
            if command == "take":
                conn.send(state.take())
            else:
                loop.call_soon_threadsafe(stop.set)
                return

    threading.Thread(target=commands, daemon=True).start()
    loop.run_until_complete(_tick(state, stop))
    server.close()
    loop.close()
