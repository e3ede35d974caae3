"""CPU per webhook POST: the gateway's own HTTP/1.1 client against httpx (and aiohttp, when
it is installed), each over one kept-alive connection to a local receiver.

    python bench/webhook_client.py [--posts 3000] [--rounds 2]

Every client sends the same version-1 alert body with the gateway's headers, one POST
after the other, and waits for each answer; the receiver runs on the same loop and
answers `200` at once (bench/receiver.py's protocol, the doors benchmark's receiver), so
the figure is the client's CPU plus the receiver's small share, the same for all.
Reported: CPU microseconds per POST (process time over the POSTs), best of `--rounds`,
the clients interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.receiver import in_process  # the repository's root is on the path now
from gateway.channels.http11 import Http11Pool

BODY = (
    b'{"version": 1, "event": "alert.raised", "alert": {"id": 1234, "rule": "door_left_open",'
    b' "severity": "warning", "title": "Door left open", "device_id": "door-0017",'
    b' "place": "Sunshine community / Building 3 / Unit 2", "raised_at":'
    b' "2026-12-04T19:27:00.123000+00:00", "due_at": "2026-12-04T19:27:00.000000+00:00"}}'
)
HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "Idempotency-Key": "alert-1234-e1-raised-ops",
    "X-Gridgate-Event": "alert.raised",
    "X-Gridgate-Delivery": "98765",
    "X-Gridgate-Timestamp": "1796412420",
    "User-Agent": "gridgate-webhook/1",
}

Run = Callable[[str, int], Awaitable[float]]


async def ours(url: str, posts: int) -> float:
    pool = Http11Pool(url, max_connections=1)
    await pool.post(BODY, HEADERS, 10)  # the connection, opened outside the measure
    started = time.process_time()
    for _ in range(posts):
        if await pool.post(BODY, HEADERS, 10) != 200:
            raise SystemExit("ours: not 200")
    spent = time.process_time() - started
    await pool.aclose()
    return spent


async def with_httpx(url: str, posts: int) -> float:
    async with httpx.AsyncClient() as client:
        await client.post(url, content=BODY, headers=HEADERS)
        started = time.process_time()
        for _ in range(posts):
            response = await client.post(url, content=BODY, headers=HEADERS, timeout=10)
            if response.status_code != 200:
                raise SystemExit("httpx: not 200")
        return time.process_time() - started


async def with_aiohttp(url: str, posts: int) -> float:
    import aiohttp  # optional: measured only where installed

    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=BODY, headers=HEADERS) as response:
            await response.read()
        started = time.process_time()
        for _ in range(posts):
            async with session.post(url, data=BODY, headers=HEADERS) as response:
                await response.read()
                if response.status != 200:
                    raise SystemExit("aiohttp: not 200")
        return time.process_time() - started


async def main(posts: int, rounds: int) -> None:
    server = await asyncio.get_running_loop().create_server(in_process(), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    clients: dict[str, Run] = {"gridgate http11": ours, "httpx": with_httpx}
    try:
        import aiohttp  # noqa: F401

        clients["aiohttp"] = with_aiohttp
    except ImportError:
        print("aiohttp not installed: not measured")
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, run in clients.items():
            spent = await run(url, posts)
            best[name] = min(best.get(name, spent), spent)
    server.close()
    for name, spent in best.items():
        print(f"{name:16} {spent * 1e6 / posts:8.1f} µs CPU a POST (best of {rounds})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.posts, args.rounds))
