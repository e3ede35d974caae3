"""/docs and /redoc with no network: assets from the box, and a browser told to ask nothing else.

`fastapi-offline` serves Swagger UI's and Redoc's JavaScript and CSS from its own package
(app.py builds the app with it). Redoc 2.x still names one outside address in its code, its
attribution logo (`cdn.redoc.ly/redoc/logo-mini.svg`, hidden when it fails to load), and a
future release of either may add another: the two pages carry a Content-Security-Policy
that lets the browser load only from the gateway (inline script and style are how both
pages start themselves; Redoc's search runs in a `blob:` worker). An operator's browser
with internet then tells no third party which gateway it is reading.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_PATHS = frozenset({"/docs", "/redoc"})
POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "frame-ancestors 'self'"
)


class DocsPolicy:
    """ASGI middleware: the policy above on the responses of DOCS_PATHS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in DOCS_PATHS:
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    *message.get("headers", []),
                    (b"content-security-policy", POLICY.encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_policy)
