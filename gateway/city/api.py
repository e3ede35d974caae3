"""The city's API and dashboard (FastAPI): every community's open alerts and cases with
their whole place, filtered by district, street, community and category; KPIs rolled up by
level with the gateways' own formulas (gateway/alerts/kpis.py, gateway/cases/kpis.py); each
gateway's feed health. Scoped like a gateway's API: the admin token sees the city, a token
made with `gridgate city token --node <id>` sees what lies under that node (a street's
token, its communities). Reads go straight to PostgreSQL; the API changes nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from gateway.alerts.escalation import AlertPolicy
from gateway.alerts.kpis import by_level
from gateway.alerts.kpis import figures as alert_figures
from gateway.cases.kpis import Figures, GroupBy, grouped
from gateway.cases.kpis import figures as case_figures
from gateway.city.consumer import CityCounts
from gateway.city.records import alert_record, case_record
from gateway.city.store import CityStore, GatewayRow, token_hash
from gateway.places.site import Level

WEB = Path(__file__).parent / "web"
_ID = Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


@dataclasses.dataclass(frozen=True)
class CityContext:
    store: CityStore
    counts: CityCounts
    now: Callable[[], datetime]
    admin_token_hash: str | None
    online_within_s: float
    is_ready: Callable[[], bool]


def _case_kpi(f: Figures) -> dict[str, Any]:
    out = dataclasses.asdict(f)
    out.update(
        closure_rate=f.closure_rate,
        on_time_rate=f.on_time_rate,
        rework_rate=f.rework_rate,
        extension_rate=f.extension_rate,
    )
    return out


def _scope(request: Request, authorization: Annotated[str | None, Header()] = None) -> str | None:
    """The node a token sees (None: the whole city); 401 without a known token."""
    context: CityContext = request.app.state.city
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(401, "a bearer token is needed (gridgate city token)")
    token = authorization.removeprefix("Bearer ").strip()
    if context.admin_token_hash is not None and token_hash(token) == context.admin_token_hash:
        return None
    node = context.store.token_node(token) if token else None
    if node is None:
        raise HTTPException(401, "unknown token")
    return node


Scope = Annotated[str | None, Depends(_scope)]


class ListQuery:
    """What a list of alerts or cases is filtered by (query parameters)."""

    def __init__(
        self,
        state: Literal["open", "all"] = "open",
        district: Annotated[str | None, _ID] = None,
        street: Annotated[str | None, _ID] = None,
        community: Annotated[str | None, _ID] = None,
        category: Annotated[str | None, _ID] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> None:
        pairs = {"district": district, "street": street, "community": community,
                 "category": category}  # fmt: skip
        self.query: dict[str, Any] = {
            "is_open": True if state == "open" else None,
            "filters": {k: v for k, v in pairs.items() if v},
            "limit": limit,
        }


Listed = Annotated[ListQuery, Depends()]


def create_city_app(context: CityContext) -> FastAPI:
    app = FastAPI(title="gridgate city", docs_url="/docs", redoc_url=None)
    app.state.city = context

    def period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
        until = until or context.now()
        since = since or until - timedelta(days=7)
        if since.tzinfo is None or until.tzinfo is None:
            raise HTTPException(422, "since/until need a UTC offset")
        if since >= until:
            raise HTTPException(422, "since is not before until")
        return since, until

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(WEB / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/city.js", include_in_schema=False)
    def script() -> FileResponse:
        return FileResponse(WEB / "city.js", media_type="text/javascript; charset=utf-8")

    @app.get("/health")
    def health() -> JSONResponse:
        """The consumer (broker connected and subscribed, database writes) and its counts."""
        c = context.counts
        body = {
            "status": "ok" if context.is_ready() and c.last_store_error is None else "degraded",
            "broker": {"connected": c.connected, "subscribed": c.subscribed},
            "store_error": c.last_store_error,
            "counts": {
                "received": c.received,
                "applied": c.applied,
                "redeliveries": c.redeliveries,
                "refused_city_owned": c.refused,
                "superseded": c.superseded,
                "held": c.held,
                "gaps_given_up": c.released,
                "rejected": dict(c.rejected),
                "store_errors": c.store_errors,
            },
        }
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @app.get("/rejections")
    def rejections(scope: Scope) -> dict[str, Any]:
        """Messages refused on the city topic, by reason, with the last one's detail."""
        if scope is not None:
            raise HTTPException(403, "the city's rejections are for the admin")
        return {k: {**v, "last_at": v["last_at"].isoformat()} for k, v in
                context.store.rejections().items()}  # fmt: skip

    def gateway_json(g: GatewayRow, now: datetime) -> dict[str, Any]:
        online = g.last_seen_at is not None and (now - g.last_seen_at).total_seconds() <= (
            context.online_within_s
        )
        out = dataclasses.asdict(g)
        for key in ("last_seen_at", "last_event_at"):
            out[key] = out[key].isoformat() if out[key] else None
        out["online"] = online
        return out

    @app.get("/gateways")
    def gateways(scope: Scope) -> list[dict[str, Any]]:
        """Each gateway's feed: last sequence, missing numbers, redeliveries, gaps, refusals,
        lag of its last event, last seen, online, and its last device health summary."""
        if scope is not None:
            communities = {r[0] for r in context.store.items("alert", scope=scope,
                           is_open=None, limit=100_000)}  # fmt: skip
            communities |= {r[0] for r in context.store.items("case", scope=scope,
                            is_open=None, limit=100_000)}  # fmt: skip
        now = context.now()
        return [
            gateway_json(g, now)
            for g in context.store.gateways()
            if scope is None or g.gateway_id in communities
        ]

    @app.get("/alerts")
    def alerts(scope: Scope, listed: Listed) -> list[dict[str, Any]]:
        """Alerts of every community (open by default), newest first, with their place."""
        rows = context.store.alerts(scope=scope, **listed.query)
        return [{"gateway": g, "owner": o, **alert_record(a)} for g, o, a in rows]

    @app.get("/cases")
    def cases(scope: Scope, listed: Listed) -> list[dict[str, Any]]:
        """Cases of every community (open by default), newest first, with their place."""
        out = []
        for g, o, c in context.store.cases(scope=scope, **listed.query):
            record = case_record(c)
            record.pop("reporter", None)  # a resident's name and phone stay in the community
            out.append({"gateway": g, "owner": o, **record})
        return out

    @app.get("/kpis")
    def kpis(
        scope: Scope,
        level: Literal["district", "street", "community", "grid"] = "street",
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, Any]:
        """Alert and case KPIs over [since, until) (default: the last 7 days) by `level`,
        with the formulas a gateway's /kpis and /cases/kpis use."""
        since, until = period(since, until)
        policy = AlertPolicy()
        raised = [
            a
            for _, _, a in context.store.alerts(
                scope=scope, is_open=None, since=since, until=until, limit=10_000_000
            )
        ]
        listed = [c for _, _, c in context.store.cases(scope=scope, is_open=None, until=until,
                                                       limit=10_000_000)]  # fmt: skip
        at = Level(level)
        return {
            "since": since.isoformat(),
            "until": until.isoformat(),
            "level": level,
            "alerts": {
                "nodes": [dataclasses.asdict(f) for f in by_level(raised, at, policy)],
                "total": dataclasses.asdict(
                    alert_figures(scope or "*", at, "total", raised, policy)
                ),
            },
            "cases": {
                "nodes": [_case_kpi(f) for f in grouped(listed, GroupBy(level), since, until)],
                "total": _case_kpi(case_figures(listed, since, until)),
            },
        }

    return app
