"""`create_studio_app()`: sqladmin over the portal's database, behind the access token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from sqladmin import Admin
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pe_portal import process
from pe_portal.db.engine import create_sessionmaker
from pe_portal.http import nul_in_address
from pe_portal.studio.accounts import ProfileAdmin, UserAdmin
from pe_portal.studio.auth import TokenAuth, time_zones
from pe_portal.studio.factors import MfaFactorAdmin
from pe_portal.studio.records import AuditLogAdmin, SessionAdmin

BASE_URL = "/admin"
TEMPLATES = Path(__file__).with_name("templates")
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def create_studio_app(
    engine: AsyncEngine, *, access_token: str, own_engine: bool = False
) -> Starlette:
    """The studio on `engine` (the app role), guarded by `access_token`; `own_engine`: dispose
    of the engine when the app stops."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        process.tune_garbage_collector()
        yield
        if own_engine:
            await engine.dispose()

    app = Starlette(
        routes=[Route("/", _home)], middleware=[Middleware(StudioGuard)], lifespan=lifespan
    )
    admin = Admin(
        app,
        session_maker=create_sessionmaker(engine),
        base_url=BASE_URL,
        title="pe-portal studio",
        authentication_backend=TokenAuth(access_token),
        templates_dir=str(TEMPLATES),
    )
    admin.templates.env.globals["time_zones"] = time_zones
    for view in (UserAdmin, ProfileAdmin, MfaFactorAdmin, SessionAdmin, AuditLogAdmin):
        admin.add_view(view)
    return app


async def _home(request: Request) -> Response:
    return RedirectResponse(f"{BASE_URL}/", status_code=302)


class StudioGuard:
    """Refuses changes that another site asked the operator's browser to make, and keeps the
    pages out of frames and caches."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _changes_data(scope) and _cross_origin(Headers(scope=scope)):
            refusal = PlainTextResponse("Cross-site request refused.", status_code=403)
            await refusal(scope, receive, send)
            return
        if nul_in_address(scope):
            refusal = PlainTextResponse("NUL characters cannot be looked for.", status_code=400)
            await refusal(scope, receive, send)
            return
        static = "/statics/" in scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.update(_HEADERS)
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _changes_data(scope: Scope) -> bool:
    # sqladmin runs custom actions on GET.
    return scope["method"] not in _SAFE_METHODS or "/action/" in scope["path"]


def _cross_origin(headers: Headers) -> bool:
    """The browser says the request came from another origin (Fetch metadata, else Origin)."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in {"same-origin", "none"}
    origin = headers.get("origin")
    return origin is not None and urlsplit(origin).netloc != headers.get("host")
