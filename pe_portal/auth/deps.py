"""Authentication dependencies: routes are authenticated by declaring `PrincipalDep`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from pe_portal.auth import ratelimit
from pe_portal.auth.service import Principal, authenticate
from pe_portal.auth.tokens import AccessTokens
from pe_portal.errors import Unauthenticated
from pe_portal.web.deps import ContextDep, SessionDep, SettingsDep

# The token URL makes Swagger UI's *Authorize* button speak the OAuth 2.0 password grant.
bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def access_tokens(request: Request) -> AccessTokens:
    tokens: AccessTokens = request.app.state.access_tokens
    return tokens


AccessTokensDep = Annotated[AccessTokens, Depends(access_tokens)]


async def current_principal(
    session: SessionDep,
    access: AccessTokensDep,
    token: Annotated[str | None, Depends(bearer)],
) -> Principal:
    if not token:
        raise Unauthenticated("Send an access token: Authorization: Bearer <token>.")
    return await authenticate(session, token=token, access=access)


async def auth_rate_limit(request: Request, settings: SettingsDep, context: ContextDep) -> None:
    """Per-IP limit on every auth endpoint (AUTH_RATE_LIMIT requests a minute)."""
    await ratelimit.hit(
        request.app.state.sessionmaker,
        client_ip=context.ip_address,
        limit=settings.auth_rate_limit,
    )


PrincipalDep = Annotated[Principal, Depends(current_principal)]
