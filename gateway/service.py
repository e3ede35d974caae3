"""The running gateway: builds every part from Settings and runs them on one loop.

    load site + rules (refuse to start on a bad file) → open the store → restore state
    → start MQTT ingest → pipeline (ingest + timers) → outbox worker → API (uvicorn)

Stops on SIGINT/SIGTERM: stop taking messages, finish the step in hand, let deliveries in
flight finish, stop the API, give the telemetry buffer one bounded last flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import uvicorn
from pydantic import ValidationError

from gateway.alerts.escalation import DEFAULT_TIMES, AlertPolicy, SeverityTimes
from gateway.alerts.links import LinkSigner
from gateway.alerts.routing import ChannelRef, Router
from gateway.api.app import create_app
from gateway.api.auth import Auth, hash_token
from gateway.api.deps import AppContext
from gateway.channels.registry import build_channels, close_channels
from gateway.config import Settings
from gateway.errors import StoreUnavailable
from gateway.ingest.mqtt import Inbox, MqttIngest
from gateway.outbox.worker import OutboxWorker
from gateway.pipeline.deadlines import DeadlineWorker
from gateway.pipeline.rulewatch import watch_rules
from gateway.pipeline.steps import Accepted, Pipeline
from gateway.places.registry import Registry
from gateway.places.roster import PersonSpec, Roster, load_roster, person_of
from gateway.places.site import Site, load_site
from gateway.runtime.clock import Clock, EventClock, WallClock, utcnow
from gateway.runtime.stats import Health
from gateway.sinks.homeassistant import HomeAssistantSink
from gateway.sinks.telemetry import TelemetrySink
from gateway.store import Store
from rules.engine import Engine
from rules.model import RuleFile, load_rules
from sensors.adapt import AdapterSet

log = logging.getLogger(__name__)

INBOX_CAPACITY = 10_000
SHUTDOWN_WAIT_S = 10.0


@dataclass(frozen=True)
class Loaded:
    """Every file the gateway needs, validated and cross-checked."""

    site: Site
    rules: RuleFile
    roster: Roster
    adapters: AdapterSet


def load_files(settings: Settings) -> Loaded:
    """Read site and rules; a FileError names the file, line and reason."""
    site = load_site(settings.site_file)
    roster = (
        Roster.empty() if settings.roster_file is None else load_roster(settings.roster_file, site)
    )
    adapters = AdapterSet.load(
        native_topic_root=settings.mqtt.topic_root,
        max_payload_bytes=settings.mqtt.max_payload_bytes,
        extra_dirs=settings.adapter_dirs,
        # event time may run far ahead of the wall in an accelerated simulation
        max_clock_skew=timedelta(days=3650) if settings.clock == "event" else timedelta(minutes=5),
    )
    return Loaded(
        site=site, rules=load_rules(settings.rules_file), roster=roster, adapters=adapters
    )


async def serve(
    settings: Settings, loaded: Loaded, *, on_ready: Callable[[int], None] | None = None
) -> None:
    """Run until SIGINT/SIGTERM; `on_ready(port)` once the API listens."""
    loop = asyncio.get_running_loop()
    health = Health()
    health.ingest.started_at = utcnow()
    store = Store(
        settings.database_path,
        busy_timeout_s=settings.store.busy_timeout_s,
        max_pages=settings.store.max_pages,
    )
    adapters = loaded.adapters
    registry = Registry(loaded.site, store.load_devices())
    _add_stored_people(loaded, store)
    admin = settings.auth.admin_token
    auth = Auth(loaded.roster, hash_token(admin.get_secret_value()) if admin else None)
    engine = Engine(loaded.rules, loaded.site.timezone, registry.where())
    inbox = Inbox(INBOX_CAPACITY, health)
    clock: Clock = EventClock() if settings.clock == "event" else WallClock()
    clock_topic = f"{settings.mqtt.topic_root}/v1/simulator/clock"
    topics = adapters.subscriptions() + ([clock_topic] if settings.clock == "event" else [])
    ingest = MqttIngest(settings.mqtt, topics, inbox, health)

    async with httpx.AsyncClient() as http:
        channels = build_channels(settings.channels, settings.webhooks, http, loaded.site.timezone)
        outbox = OutboxWorker(store, channels, settings.outbox, health, utcnow)
        links = link_signer(settings)
        route = Router(
            webhooks=settings.webhooks,
            channels=[ChannelRef(type_, name) for type_, name in channels],
            roster=loaded.roster,
            tz=loaded.site.timezone,
            now=clock.now,
            links=links,
            resident_phones=loaded.site.resident_phones,
        )
        policy = alert_policy(settings)
        deadlines = DeadlineWorker(
            store, route, policy, clock.now, outbox.wake, wall_seconds=clock.wall_seconds
        )

        def on_alerts() -> None:
            outbox.wake()
            deadlines.wake()

        sink = None
        if settings.telemetry.is_enabled:
            sink = TelemetrySink(settings.telemetry, health.telemetry)
        ha = None  # Home Assistant discovery and states (gateway/sinks/homeassistant.py)
        if settings.homeassistant.enabled:
            ha = HomeAssistantSink(
                settings.homeassistant, settings.mqtt, loaded.site, registry, store
            )

        def on_readings(accepted: list[Accepted]) -> None:
            health.ingest.readings.update(a.reading.kind.value for a in accepted)
            if sink is not None:
                sink.offer(accepted)
            if ha is not None:
                ha.offer(accepted)

        pipeline = Pipeline(
            registry=registry,
            adapters=adapters,
            engine=engine,
            store=store,
            route=route,
            health=health,
            clock=clock,
            on_committed=ingest.ack,
            on_alerts=on_alerts,
            on_readings=on_readings,
            policy=policy,
        )
        pipeline.restore()
        # The site, the registry, the rules' view of it and the device states are a
        # district's worth of long-lived objects (millions at 100,000 devices). Out of the
        # collector's sight they are not walked again by every full collection, which
        # would otherwise stall the loop for a few hundred ms now and then.
        gc.collect()
        gc.freeze()
        if settings.clock == "event":
            pipeline.follow_clock(clock_topic)

        # API threads change the registry; the engine is the loop's: hand the change over
        def places_changed() -> None:
            loop.call_soon_threadsafe(pipeline.places_changed)

        registry.on_change(places_changed)
        context = AppContext(
            store=store,
            registry=registry,
            health=health,
            route=route,
            now=clock.now,
            auth=auth,
            tz=loaded.site.timezone,
            links=links,
            wake_outbox=outbox.wake,
        )
        app = create_app(context, max_body_bytes=settings.api.max_body_bytes)
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
            "gateway_starting site=%s devices=%d rules=%d adapters=%s people=%d db=%s channels=%s",
            loaded.site.path,
            len(registry.devices),
            len(loaded.rules.rules),
            ",".join(adapters.names),
            len(loaded.roster.people),
            settings.database_path,
            ",".join(f"{t}:{n}" for t, n in channels) or "none",
        )
        ingest.start()
        tasks = [
            asyncio.create_task(pipeline.run_ingest(inbox), name="ingest"),
            asyncio.create_task(pipeline.run_timers(), name="timers"),
            outbox_task := asyncio.create_task(outbox.run(), name="outbox"),
            asyncio.create_task(deadlines.run(), name="deadlines"),
            asyncio.create_task(run_checkpoints(store), name="checkpoints"),
            asyncio.create_task(
                watch_rules(settings.rules_file, pipeline.replace_rules), name="rules"
            ),
        ]
        api = asyncio.create_task(server.serve(), name="api")
        up = asyncio.create_task(server.up.wait())
        await asyncio.wait([up, api], return_when=asyncio.FIRST_COMPLETED)
        if not server.started:
            up.cancel()
            await ingest.stop()
            for task in tasks:
                task.cancel()
            api.result()  # raises what stopped it (port in use, ...)
            raise SystemExit("the API server stopped at start")
        port = _bound_port(server)
        if sink is not None:
            sink.start()
        if ha is not None:
            ha.start()
        log.info("api_listening url=http://%s:%d", settings.api.host, port)
        if on_ready is not None:
            on_ready(port)
        stopped: asyncio.Task[bool] = asyncio.create_task(stop.wait())
        await asyncio.wait([stopped, api, *tasks], return_when=asyncio.FIRST_COMPLETED)
        log.info("gateway_stopping")
        context.stopping.set()
        await pipeline.pause()
        await ingest.stop()
        server.should_exit = True
        outbox.close()  # deliveries in flight finish and are recorded
        for task in tasks:
            if task is not outbox_task:
                task.cancel()
        await asyncio.wait(tasks, timeout=SHUTDOWN_WAIT_S)
        outbox_task.cancel()
        await close_channels(channels)  # the MQTT upstream connection
        if ha is not None:
            await ha.close()  # says offline (retained) first
        if sink is not None:
            await sink.close()  # one last flush, at most telemetry.shutdown_flush_s
        await asyncio.wait([api], timeout=SHUTDOWN_WAIT_S)
        stopped.cancel()
        up.cancel()
        store.close()
        log.info("gateway_stopped")


CHECKPOINT_EVERY_S = 1.0


async def run_checkpoints(store: Store) -> None:
    """Keep the SQLite WAL short, in a thread beside the pipeline (see Store.checkpoint).
    A failure is logged when it starts and when it ends, and tried again every second."""
    failing = False
    while True:
        await asyncio.sleep(CHECKPOINT_EVERY_S)
        try:
            await asyncio.to_thread(store.checkpoint)
        except StoreUnavailable as exc:
            if not failing:
                log.warning("checkpoint_failed reason=%s (retrying every second)", exc.reason)
            failing = True
            continue
        if failing:
            log.info("checkpoint_recovered")
        failing = False


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


def _add_stored_people(loaded: Loaded, store: Store) -> None:
    """People added through the API, unless the roster file now has them (the file wins)."""
    for data in store.load_people():
        try:
            spec = PersonSpec.model_validate(data)
            if not loaded.roster.is_from_file(spec.id):
                loaded.roster.put(person_of(spec, loaded.site))
        except (ValidationError, ValueError) as exc:
            log.warning("stored_person_skipped person_id=%s reason=%s", data.get("id"), exc)


def alert_policy(settings: Settings) -> AlertPolicy:
    times = dict(DEFAULT_TIMES)
    for severity, t in settings.escalation.times.items():
        times[severity] = SeverityTimes(
            t.ack_within_s, t.resolve_within_s, t.reminder_first_s, t.reminder_max_s
        )
    return AlertPolicy(times=times, reopen_within_s=settings.escalation.reopen_within_s)


def link_signer(settings: Settings) -> LinkSigner:
    """Signs action links with the configured secret, or one kept in the state folder."""
    secret = settings.auth.link_secret
    if secret is not None:
        key = secret.get_secret_value().encode()
    else:
        path = settings.state_dir / "link.key"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_bytes(secrets.token_bytes(32))
            path.chmod(0o600)
        key = path.read_bytes()
    base = settings.api.public_url or f"http://{settings.api.host}:{settings.api.port}"
    return LinkSigner(key, str(base))


def _bound_port(server: uvicorn.Server) -> int:
    for s in server.servers:
        for sock in s.sockets:
            port: int = sock.getsockname()[1]
            return port
    return 0
