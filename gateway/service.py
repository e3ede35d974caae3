"""The running gateway: builds every part from Settings and runs them on one loop.

    files (gateway/files.py; refuse to start on a bad one) → open the store and its writer
    → restore state (devices, rule tracks, alerts in play, pending deliveries) → MQTT
    ingest → pipeline (ingest + timers, with the alert stage) → outbox worker → API

Stops on SIGINT/SIGTERM: stop taking messages, finish the step in hand, let deliveries in
flight finish, stop the API, give the telemetry buffer one bounded last flush.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import secrets
import signal
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import uvicorn
from pydantic import ValidationError

from gateway.alerts.escalation import DEFAULT_TIMES, AlertPolicy, SeverityTimes
from gateway.alerts.links import LinkSigner
from gateway.alerts.routes import Routes, load_routes
from gateway.alerts.routing import ChannelRef, Router
from gateway.api.app import create_app
from gateway.api.auth import Auth, hash_token
from gateway.api.deps import AppContext, CaseContext
from gateway.cases.deadlines import CasePolicy
from gateway.cases.links import CaseLinks
from gateway.channels.registry import build_channels, close_channels
from gateway.city.feed import CHANNEL, Feed, device_health
from gateway.city.link import CityLink, broker_of
from gateway.config import Settings
from gateway.errors import StoreUnavailable
from gateway.files import Loaded, known_to_routes
from gateway.ingest.mqtt import Inbox, MqttIngest
from gateway.outbox.worker import OutboxWorker
from gateway.pipeline.alerting import AlertDesk, AlertStage
from gateway.pipeline.casework import CaseDesk, CaseStage
from gateway.pipeline.rulewatch import watch_file
from gateway.pipeline.steps import Accepted, Pipeline
from gateway.places.registry import Registry
from gateway.places.roster import PersonSpec, person_of
from gateway.runtime.apiserver import ApiServer
from gateway.runtime.clock import Clock, EventClock, WallClock, utcnow
from gateway.runtime.stats import Health
from gateway.sinks.homeassistant import HomeAssistantSink
from gateway.sinks.telemetry import TelemetrySink
from gateway.store import Store
from gateway.store.records import Delivery
from gateway.store.writer import Writer
from rules.engine import Engine
from rules.model import Deadline, RuleFile, load_rules

log = logging.getLogger(__name__)

INBOX_CAPACITY = 10_000
SHUTDOWN_WAIT_S = 10.0


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
    registry = Registry(loaded.site, store.devices.added())
    _add_stored_people(loaded, store)
    admin = settings.auth.admin_token
    auth = Auth(loaded.roster, hash_token(admin.get_secret_value()) if admin else None)
    engine = Engine(loaded.rules, loaded.site.timezone, registry.where())
    inbox = Inbox(INBOX_CAPACITY, health)
    clock: Clock = EventClock() if settings.clock == "event" else WallClock()
    clock_topic = f"{settings.mqtt.topic_root}/v1/simulator/clock"
    topics = adapters.subscriptions() + ([clock_topic] if settings.clock == "event" else [])
    ingest = MqttIngest(settings.mqtt, topics, inbox, health)
    writer = Writer(store, health)

    async with httpx.AsyncClient() as http:
        channels = build_channels(settings.channels, settings.webhooks, http, loaded.site.timezone)
        outbox = OutboxWorker(store, writer, channels, settings.outbox, health, utcnow)
        links = link_signer(settings)
        router = Router(
            routes=loaded.routes,
            channels=[ChannelRef(type_, name) for type_, name in channels],
            roster=loaded.roster,
            tz=loaded.site.timezone,
            links=links,
            resident_phones=loaded.site.resident_phones,
            departments=loaded.cases.departments,
        )
        policy = alert_policy(settings)
        case_links = CaseLinks.derived(links.secret, links.base_url)
        cases = CaseStage(
            store=store,
            router=router,
            policy=CasePolicy(loaded.cases.categories, loaded.cases.calendar),
            links=case_links,
        )

        def deadline_of(rule_id: str) -> Deadline | None:
            rule = engine.rules.get(rule_id)
            return None if rule is None else rule.deadline

        stage = AlertStage(
            store=store, route=router, policy=policy, health=health, deadline_of=deadline_of
        )
        if settings.city.gateway_id is not None:  # the city feed (docs/city.md)
            gateway_id = settings.city.gateway_id
            feed = Feed(
                gateway_id,
                lambda: stage.delivery_ids.take(),
                lambda now: device_health(pipeline.states, len(registry.devices), now),
                timedelta(seconds=settings.city.heartbeat_s),
            )
            stage.follow(feed)  # first: an alert's event goes up before its case's
            cases.follow(feed.on_case)
            broker = broker_of(settings.city, settings.mqtt, gateway_id)
            channels[(CHANNEL, CHANNEL)] = CityLink(settings.city, broker, gateway_id)
        stage.follow(cases)  # sensor alerts open and join cases in their own step
        sink = None
        if settings.telemetry.is_enabled:
            sink = TelemetrySink(settings.telemetry, health.telemetry)
        ha = None  # Home Assistant discovery and states (gateway/sinks/homeassistant.py)
        if settings.homeassistant.enabled:
            ha = HomeAssistantSink(
                settings.homeassistant, settings.mqtt, loaded.site, registry, store.alerts
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
            stage=stage,
            store=store,
            writer=writer,
            health=health,
            clock=clock,
            on_committed=ingest.ack,
            on_queued=outbox.add,
            on_readings=on_readings,
            ingest=ingest,
        )
        pipeline.restore()
        cases.load(stage.delivery_ids)
        cases.on_due_changed = pipeline.wake_timers
        outbox.load()
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
        desk = AlertDesk(stage, writer, loop, health, outbox.add, str(store.path))
        context = AppContext(
            store=store,
            registry=registry,
            health=health,
            desk=desk,
            now=clock.now,
            auth=auth,
            tz=loaded.site.timezone,
            links=links,
            revive=functools.partial(_on_loop, loop, outbox.revive),
            cases=CaseContext(
                desk=CaseDesk(cases, writer, desk),
                links=case_links,
                settings=settings.cases,
                photos_dir=settings.state_dir / "cases",
                departments=loaded.cases.departments,
            ),
        )
        app = create_app(
            context, max_body_bytes=settings.api.max_body_bytes, upload_bytes=upload_bytes(settings)
        )
        server = ApiServer(
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
            "gateway_starting site=%s devices=%d rules=%d adapters=%s people=%d db=%s "
            "channels=%s routes=%s",
            loaded.site.path,
            len(registry.devices),
            len(loaded.rules.rules),
            ",".join(adapters.names),
            len(loaded.roster.people),
            settings.database_path,
            ",".join(f"{t}:{n}" for t, n in channels) or "none",
            loaded.routes.path,
        )
        known = functools.partial(known_to_routes, settings, loaded.site, loaded.roster)

        def load_routes_in_force(path: Path) -> Routes:
            rules = RuleFile(rules=list(engine.rules.values()))
            return load_routes(
                path, known(rules, loaded.cases.departments, loaded.cases.category_ids)
            )

        async def replace_routes(routes: Routes) -> None:
            router.replace_routes(routes)

        ingest.start()
        tasks = [
            asyncio.create_task(pipeline.run_ingest(inbox), name="ingest"),
            asyncio.create_task(pipeline.run_timers(), name="timers"),
            outbox_task := asyncio.create_task(outbox.run(), name="outbox"),
            asyncio.create_task(run_checkpoints(store), name="checkpoints"),
            asyncio.create_task(
                watch_file(settings.rules_file, load_rules, pipeline.replace_rules, "rules"),
                name="rules",
            ),
            asyncio.create_task(
                watch_file(loaded.routes.path, load_routes_in_force, replace_routes, "routes"),
                name="routes",
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
            writer.close()
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
        await outbox.drain(SHUTDOWN_WAIT_S)
        for task in tasks:
            if task is not outbox_task:
                task.cancel()
        await asyncio.wait(tasks, timeout=SHUTDOWN_WAIT_S)
        await close_channels(channels)  # MQTT upstream, webhooks' connections
        if ha is not None:
            await ha.close()  # says offline (retained) first
        if sink is not None:
            await sink.close()  # one last flush, at most telemetry.shutdown_flush_s
        await asyncio.wait([api], timeout=SHUTDOWN_WAIT_S)
        stopped.cancel()
        up.cancel()
        writer.close()
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


def _add_stored_people(loaded: Loaded, store: Store) -> None:
    """People added through the API, unless the roster file now has them (the file wins)."""
    for data in store.people.added():
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


def upload_bytes(settings: Settings) -> int:
    """The body ceiling of requests that carry photos (a case, a step on it)."""
    return settings.cases.photo_max_bytes * max(1, settings.cases.photos_per_request) + 256 * 1024


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


def _on_loop(
    loop: asyncio.AbstractEventLoop, fn: Callable[[Delivery], None], row: Delivery
) -> None:
    loop.call_soon_threadsafe(fn, row)


def _bound_port(server: uvicorn.Server) -> int:
    for s in server.servers:
        for sock in s.sockets:
            port: int = sock.getsockname()[1]
            return port
    return 0
