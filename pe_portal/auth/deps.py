"""The sign-in endpoints' own dependency: the per-IP rate limit."""

from __future__ import annotations

from fastapi import Request

from pe_portal.auth import oauth, ratelimit
from pe_portal.config import Settings
from pe_portal.errors import RateLimited
from pe_portal.http.deps import ContextDep
from pe_portal.http.errors import raises


@raises(RateLimited)
async def auth_rate_limit(request: Request, context: ContextDep) -> None:
    """Per-IP limit on every auth endpoint (AUTH_RATE_LIMIT requests a minute)."""
    # From the app rather than a sub-dependency: one node fewer to solve on every auth request.
    settings: Settings = request.app.state.settings
    await ratelimit.hit(
        request.app.state.sessionmaker,
        client_ip=context.ip_address,
        limit=settings.auth_rate_limit,
    )


async def oauth_rate_limit(request: Request, context: ContextDep) -> None:
    """The same limit for the OAuth token endpoint, refused in RFC 6749's shape."""
    try:
        await auth_rate_limit(request, context)
    except RateLimited as error:
        raise oauth.translate(error) from error
