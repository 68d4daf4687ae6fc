"""The sign-in endpoints' own dependency: the per-IP rate limit."""

from __future__ import annotations

from fastapi import Request

from pe_portal.auth import ratelimit
from pe_portal.http.deps import ContextDep, SettingsDep


async def auth_rate_limit(request: Request, settings: SettingsDep, context: ContextDep) -> None:
    """Per-IP limit on every auth endpoint (AUTH_RATE_LIMIT requests a minute)."""
    await ratelimit.hit(
        request.app.state.sessionmaker,
        client_ip=context.ip_address,
        limit=settings.auth_rate_limit,
    )
