"""The running gateway: builds every part from Settings and runs them on one loop.

    load site + rules (refuse to start on a bad file) → open the store → restore state
    → start MQTT ingest → pipeline (ingest + timers) → outbox worker → API (uvicorn)

Stops on SIGINT/SIGTERM: stop taking messages, finish the step in hand, stop the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import uvicorn

from gateway.alerts.routing import webhook_route
from gateway.api.app import create_app
from gateway.api.deps import AppContext
from gateway.channels.base import Channel
from gateway.channels.webhook import Webhook
from gateway.clock import utcnow
from gateway.config import Settings
from gateway.ingest import Inbox, MqttIngest
from gateway.outbox import OutboxWorker
from gateway.pipeline import Pipeline
from gateway.registry import Registry
from gateway.site import Site, load_site
from gateway.stats import Health
from gateway.store import Store
from rules.engine import Engine
from rules.model import RuleFile, load_rules
from sensors.native import NativeAdapter

log = logging.getLogger(__name__)

INBOX_CAPACITY = 10_000
SHUTDOWN_WAIT_S = 10.0


@dataclass(frozen=True)
class Loaded:
    """Every file the gateway needs, validated and cross-checked."""

    site: Site
    rules: RuleFile


def load_files(settings: Settings) -> Loaded:
    """Read site and rules; a FileError names the file, line and reason."""
    return Loaded(site=load_site(settings.site_file), rules=load_rules(settings.rules_file))


async def serve(
    settings: Settings, loaded: Loaded, *, on_ready: Callable[[int], None] | None = None
) -> None:
    """Run until SIGINT/SIGTERM; `on_ready(port)` once the API listens."""
    loop = asyncio.get_running_loop()
    health = Health()
    health.ingest.started_at = utcnow()
    store = Store(settings.database_path)
    adapter = NativeAdapter(
        topic_root=settings.mqtt.topic_root, max_payload_bytes=settings.mqtt.max_payload_bytes
    )
    registry = Registry(loaded.site, store.load_devices())
    engine = Engine(loaded.rules, loaded.site.timezone)
    route = webhook_route(settings.webhooks)
    inbox = Inbox(loop, INBOX_CAPACITY, health)
    ingest = MqttIngest(settings.mqtt, adapter.subscriptions(), inbox, health)

    async with httpx.AsyncClient() as http:
        channels: dict[tuple[str, str], Channel] = {
            ("webhook", t.name): Webhook(t, http) for t in settings.webhooks
        }
        outbox = OutboxWorker(store, channels, settings.outbox, health, utcnow)
        pipeline = Pipeline(
            registry=registry,
            adapter=adapter,
            engine=engine,
            store=store,
            route=route,
            health=health,
            now=utcnow,
            on_committed=ingest.ack,
            on_alerts=outbox.wake,
        )
        pipeline.restore()
        app = create_app(
            AppContext(store=store, registry=registry, health=health, route=route, now=utcnow)
        )
        server = _ApiServer(
            uvicorn.Config(
                app,
                host=settings.api.host,
                port=settings.api.port,
                log_config=None,
                lifespan="off",
                timeout_graceful_shutdown=5,
            )
        )
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        log.info(
            "gateway_starting site=%s devices=%d rules=%d db=%s webhooks=%d",
            loaded.site.path,
            len(loaded.site.devices),
            len(loaded.rules.rules),
            settings.database_path,
            len(settings.webhooks),
        )
        ingest.start()
        tasks = [
            asyncio.create_task(pipeline.run_ingest(inbox), name="ingest"),
            asyncio.create_task(pipeline.run_timers(), name="timers"),
            asyncio.create_task(outbox.run(), name="outbox"),
        ]
        api = asyncio.create_task(server.serve(), name="api")
        up = asyncio.create_task(server.up.wait())
        await asyncio.wait([up, api], return_when=asyncio.FIRST_COMPLETED)
        if not server.started:
            up.cancel()
            ingest.stop()
            for task in tasks:
                task.cancel()
            api.result()  # raises what stopped it (port in use, ...)
            raise SystemExit("the API server stopped at start")
        port = _bound_port(server)
        log.info("api_listening url=http://%s:%d", settings.api.host, port)
        if on_ready is not None:
            on_ready(port)
        stopped: asyncio.Task[bool] = asyncio.create_task(stop.wait())
        await asyncio.wait([stopped, api, *tasks], return_when=asyncio.FIRST_COMPLETED)
        log.info("gateway_stopping")
        await pipeline.pause()
        ingest.stop()
        server.should_exit = True
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=SHUTDOWN_WAIT_S)
        await asyncio.wait([api], timeout=SHUTDOWN_WAIT_S)
        stopped.cancel()
        up.cancel()
        store.close()
        log.info("gateway_stopped")


class _ApiServer(uvicorn.Server):
    """uvicorn, minus its signal handling (the gateway stops it) and with a started event."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.up.set()


def _bound_port(server: uvicorn.Server) -> int:
    for s in server.servers:
        for sock in s.sockets:
            port: int = sock.getsockname()[1]
            return port
    return 0
