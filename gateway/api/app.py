"""The FastAPI app factory. Domain errors become 4xx/503 here, in one place.

Everything the gateway serves loads with no network: the dashboard is in gateway/web/,
and `/docs` (Swagger UI) and `/redoc` take their JavaScript, CSS and icon from the
`fastapi-offline` package under `/static-offline-docs`, not from a CDN (an edge box in a
building's cabinet often has no way out; gateway/api/docs.py).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from gateway.api.deps import AppContext
from gateway.api.docs import DocsPolicy
from gateway.api.limits import MAX_BODY_BYTES, BodyLimit
from gateway.api.metrics import Counts
from gateway.api.metrics import registry as metrics_registry
from gateway.api.routes import (
    alerts,
    casekpis,
    cases,
    devices,
    doors,
    events,
    kpis,
    lifts,
    links,
    metrics,
    outbox,
    people,
    residents,
    status,
)
from gateway.errors import (
    AlertNotFound,
    CaseForbidden,
    CaseNotFound,
    CaseTransitionError,
    DeviceConflict,
    DeviceNotFound,
    GatewayError,
    InvalidCase,
    InvalidDevice,
    InvalidTransition,
    StoreUnavailable,
)

WEB = Path(__file__).parent.parent / "web"


def create_app(
    context: AppContext, *, max_body_bytes: int = MAX_BODY_BYTES, upload_bytes: int = 0
) -> FastAPI:
    app = FastAPIOffline(
        title="gridgate",
        summary="Grid alerts from door and hazard sensors",
        version="0.1.0",
        # Swagger UI would ask validator.swagger.io about the schema: nothing leaves the box
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.context = context
    app.state.metrics = metrics_registry(
        context.health, Counts(context.store, context.now)
    )  # this app's own
    uploads = dict.fromkeys(("/cases", "/report/"), upload_bytes) if upload_bytes else {}
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, larger=uploads)
    app.add_middleware(DocsPolicy)
    app.include_router(alerts.router)
    app.include_router(casekpis.router)  # before cases: /cases/kpis is not a case id
    app.include_router(events.router)  # nor is /cases/events
    app.include_router(cases.router)
    app.include_router(residents.router)
    app.include_router(doors.router)
    app.include_router(lifts.router)
    app.include_router(devices.router)
    app.include_router(people.router)
    app.include_router(links.router)
    app.include_router(kpis.router)
    app.include_router(status.router)
    app.include_router(metrics.router)
    app.include_router(outbox.router)

    @app.exception_handler(GatewayError)
    async def _domain_error(request: Request, exc: GatewayError) -> JSONResponse:
        code = 500
        body: dict[str, object] = {"detail": str(exc)}
        if isinstance(exc, AlertNotFound | DeviceNotFound | CaseNotFound):
            code = 404
        elif isinstance(exc, InvalidTransition | DeviceConflict):
            code = 409
        elif isinstance(exc, CaseTransitionError):
            code = 409
            body["allowed"] = list(exc.allowed)  # the steps the case's state allows now
        elif isinstance(exc, CaseForbidden):
            code = 403
        elif isinstance(exc, InvalidDevice | InvalidCase):
            code = 422
        elif isinstance(exc, StoreUnavailable):
            code = 503
        return JSONResponse(body, status_code=code)

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(WEB / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=WEB), name="static")

    return app
