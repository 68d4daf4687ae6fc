"""Dependencies shared by the routers: the database session, settings, the request's context."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pe_portal.config import Settings
from pe_portal.context import RequestContext
from pe_portal.db.engine import DriverConnections, unit_of_work
from pe_portal.http.reads import note_write

_MAX_USER_AGENT = 512


# Dependencies are `async def` even when they do not await: FastAPI runs a plain `def`
# dependency in the thread pool, a thread hop per request on the hot path.
async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_driver_connections(request: Request) -> DriverConnections:
    connections: DriverConnections = request.app.state.driver_connections
    return connections


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


async def get_session_factory(request: Request) -> async_sessionmaker[AsyncSession]:
    """For handlers that open a unit of work only on some paths (see unit_of_work)."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return factory


def client_ip(request: Request, trusted_proxies: list[str]) -> str | None:
    """The client address; `X-Forwarded-For` is believed only from TRUSTED_PROXIES."""
    peer = request.client.host if request.client else None
    if peer is None or not _is_trusted(peer, trusted_proxies):
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


async def request_context(
    request: Request, settings: Annotated[Settings, Depends(get_settings_dep)]
) -> RequestContext:
    user_agent = request.headers.get("user-agent")
    return RequestContext(
        ip_address=client_ip(request, settings.trusted_proxies),
        user_agent=_printable(user_agent[:_MAX_USER_AGENT]) if user_agent else None,
    )


SessionDep = Annotated[AsyncSession, Depends(get_db, scope="function")]
SessionFactoryDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_session_factory)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DriverConnectionsDep = Annotated[DriverConnections, Depends(get_driver_connections)]
ContextDep = Annotated[RequestContext, Depends(request_context)]
