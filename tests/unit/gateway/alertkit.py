"""What the alert-side unit tests share: the demo site, a real SQLite store in tmp_path,
the alert stage with the shipped routing and one webhook, and rule events to feed it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.alerts.escalation import AlertPolicy
from gateway.alerts.lifecycle import Raise
from gateway.alerts.routes import DEFAULT_ROUTES_NO_ROSTER, Known, load_routes
from gateway.alerts.routing import ChannelRef, Router
from gateway.config import DEFAULT_SITE
from gateway.pipeline.alerting import AlertStage
from gateway.places.roster import Roster
from gateway.places.site import Site, load_site
from gateway.runtime.stats import Health
from gateway.store import Store
from gateway.store.records import Alert, Delivery
from gateway.store.step import StepWrite
from rules.engine import AlertEvent, EventType
from rules.model import Severity

T0 = datetime(2026, 3, 2, 2, 0, 0, tzinfo=UTC)
DUE = T0 + timedelta(seconds=180)
DOOR = "door-b1-u1"
RULE = "door_left_open"
TZ = ZoneInfo("Asia/Shanghai")
SITE: Site = load_site(DEFAULT_SITE)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def router(site: Site = SITE, channels: tuple[ChannelRef, ...] = ()) -> Router:
    refs = [ChannelRef("webhook", "ops"), *channels]
    known = Known(site, Roster.empty(), {c.name: c.type for c in refs}, {RULE, "smoke_detected"})
    return Router(
        routes=load_routes(DEFAULT_ROUTES_NO_ROSTER, known),
        channels=refs,
        roster=Roster.empty(),
        tz=TZ,
    )


def stage(store: Store, policy: AlertPolicy | None = None) -> AlertStage:
    made = AlertStage(store=store, route=router(), policy=policy or AlertPolicy(), health=Health())
    made.load(T0)
    return made


def item(
    type_: EventType,
    when: datetime,
    device_id: str = DOOR,
    rule_id: str = RULE,
    *,
    opened_at: datetime = T0,
    due_at: datetime | None = DUE,
    site: Site = SITE,
) -> Raise:
    placement = site.placement(device_id)
    assert placement is not None
    return Raise(
        event=AlertEvent(
            type=type_,
            rule_id=rule_id,
            device_id=device_id,
            kind=placement.kind,
            severity=Severity.WARNING,
            opened_at=opened_at,
            at=when,
            due_at=due_at,
        ),
        placement=placement,
        title_zh="门未关闭",
        title_en="Door left open",
    )


def step(store: Store, made: AlertStage, *items: Raise, now: datetime) -> StepWrite:
    """Decide `items` in one step and write it, as the pipeline does."""
    write = StepWrite()
    made.on_events(write, list(items), now)
    store.write(write)
    return write


def raised(store: Store, made: AlertStage, device_id: str = DOOR, when: datetime = DUE) -> Alert:
    write = step(store, made, item(EventType.RAISED, when, device_id), now=when)
    [alert] = write.alerts.values()
    return alert


def cleared(store: Store, made: AlertStage, when: datetime, device_id: str = DOOR) -> StepWrite:
    return step(store, made, item(EventType.CLEARED, when, device_id), now=when)


def deliveries(store: Store) -> list[Delivery]:
    return store.outbox.pending()


def new_store(tmp_path: Path) -> Store:
    return Store(tmp_path / "g.db")
