"""Dependencies shared by the routers: the database session, settings, the request's context."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pe_portal.config import Settings
from pe_portal.context import RequestContext
from pe_portal.db.engine import DriverConnections, unit_of_work
from pe_portal.http.reads import note_write
from pe_portal.security.tokens import AccessTokens

_MAX_USER_AGENT = 512


# Dependencies are `async def` even when they do not await: FastAPI runs a plain `def`
# dependency in the thread pool, a thread hop per request on the hot path.
async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


_READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work (see unit_of_work). GET and HEAD change nothing, so they read
    without a transaction (no BEGIN/COMMIT)."""
    state = request.app.state
    factory: async_sessionmaker[AsyncSession] = (
        state.read_sessionmaker if request.method in _READ_ONLY_METHODS else state.sessionmaker
    )
    async with unit_of_work(factory) as session:
        yield session
    if request.method not in _READ_ONLY_METHODS:
        await note_write(request)


@dataclass(frozen=True)
class TokenHandles:
    """What the token endpoints hand their service: the unit-of-work factory (for the paths
    that open one, see unit_of_work), the driver connections, the settings and the access
    tokens. One dependency rather than four: FastAPI solves every node of a route's dependency
    tree on every request, a cached one too, at a few microseconds each (docs/benchmarks.md)."""

    units: async_sessionmaker[AsyncSession]
    connections: DriverConnections
    settings: Settings
    access: AccessTokens


async def token_handles(request: Request) -> TokenHandles:
    state = request.app.state
    return TokenHandles(
        state.sessionmaker, state.driver_connections, state.settings, state.access_tokens
    )


def client_ip(request: Request, trusted_proxies: list[str]) -> str | None:
    """The client address; `X-Forwarded-For` is believed only from TRUSTED_PROXIES."""
    peer = request.client.host if request.client else None
    # No proxy trusted (the default): nothing to parse, the peer it is.
    if peer is None or not trusted_proxies or not _is_trusted(peer, trusted_proxies):
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if not _is_trusted(hop, trusted_proxies):
            return hop if _is_ip(hop) else peer
    return peer


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in trusted)


def _printable(text: str) -> str:
    """Control characters dropped: PostgreSQL text cannot hold NUL, and logs should not hold any.
    (uvicorn's httptools already refuses such headers; other servers may not.)"""
    return text.translate(_CONTROL_CHARACTERS)


_CONTROL_CHARACTERS = dict.fromkeys([*range(32), 127])


async def request_context(request: Request) -> RequestContext:
    """Who sent the request. Settings read from the app, not as a sub-dependency: the context
    is on nearly every route, and each dependency node costs its resolution (see TokenHandles)."""
    settings: Settings = request.app.state.settings
    user_agent = request.headers.get("user-agent")
    return RequestContext(
        ip_address=client_ip(request, settings.trusted_proxies),
        user_agent=_printable(user_agent[:_MAX_USER_AGENT]) if user_agent else None,
    )


SessionDep = Annotated[AsyncSession, Depends(get_db, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
TokenHandlesDep = Annotated[TokenHandles, Depends(token_handles)]
ContextDep = Annotated[RequestContext, Depends(request_context)]
