"""`gridgate city run`: the consumer and the city's API in one process, until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

import uvicorn

from gateway.city.api import CityContext, create_city_app
from gateway.city.consumer import CityConsumer
from gateway.city.store import CityStore, token_hash
from gateway.config import CitySettings
from gateway.runtime.apiserver import ApiServer
from gateway.runtime.clock import utcnow

log = logging.getLogger(__name__)


class CitySettingsError(Exception):
    """What `gridgate city` needs and was not given: names the variable."""


def required(city: CitySettings) -> tuple[str, tuple[str, int]]:
    """The database URL and the city broker, or CitySettingsError naming what is missing."""
    missing = []
    if city.database_url is None:
        missing.append("GRIDGATE_CITY__DATABASE_URL: required for the city (postgresql://...)")
    if city.broker_address is None:
        missing.append("GRIDGATE_CITY__BROKER: required for the city (host:port)")
    if missing:
        raise CitySettingsError("\n".join(missing))
    assert city.database_url is not None  # noqa: S101  # checked above
    assert city.broker_address is not None  # noqa: S101  # checked above
    return city.database_url.get_secret_value(), city.broker_address


async def serve_city(city: CitySettings, on_ready: Callable[[int], None] | None = None) -> None:
    url, (host, port) = required(city)
    store = CityStore(url)
    version = await asyncio.to_thread(store.migrate)
    consumer = CityConsumer(
        store,
        host=host,
        port=port,
        topic_root=city.topic,
        client_id=city.client_id,
        now=utcnow,
        username=city.username,
        password=city.password.get_secret_value() if city.password else None,
        hold_s=city.hold_s,
    )
    admin = city.admin_token.get_secret_value() if city.admin_token else None
    context = CityContext(
        store=store,
        counts=consumer.counts,
        now=utcnow,
        admin_token_hash=token_hash(admin) if admin else None,
        online_within_s=city.online_within_s,
        is_ready=lambda: consumer.is_ready,
    )
    app = create_city_app(context)
    server = ApiServer(
        uvicorn.Config(
            app,
            host=city.api_host,
            port=city.api_port,
            log_config=None,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    consumer.start()
    log.info("city_starting schema=%d broker=%s:%d topic=%s/+ api=%s:%d", version, host, port,
             city.topic, city.api_host, city.api_port)  # fmt: skip
    api = asyncio.create_task(server.serve())
    up = asyncio.create_task(server.up.wait())
    await asyncio.wait([up, api], return_when=asyncio.FIRST_COMPLETED)
    if not server.started:
        up.cancel()
        consumer.stop()
        store.close()
        api.result()
        raise SystemExit("the city's API server stopped at start")
    bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else city.api_port
    log.info("city_api_listening url=http://%s:%d", city.api_host, bound)
    if on_ready is not None:
        on_ready(bound)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([stopped, api], return_when=asyncio.FIRST_COMPLETED)
    log.info("city_stopping")
    server.should_exit = True
    await asyncio.to_thread(consumer.stop)
    await asyncio.wait([api], timeout=10)
    stopped.cancel()
    store.close()
    log.info("city_stopped")
