"""Regressions for what the fuzzing found in code this suite does not own (reported to the lead)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from pe_portal.config import Settings
from pe_portal.db.engine import create_engine
from pe_portal.web.app import create_app
from tests.factories import signed_in_user


async def test_audit_log_time_filter_refuses_a_bare_number(client: httpx.AsyncClient) -> None:
    user = await signed_in_user(client)
    response = await client.get(
        "/api/v1/users/me/audit-logs", params={"until": "0.5"}, headers=user.headers
    )
    assert response.status_code == 422


_SSL_REQUEST = (80877103).to_bytes(4, "big")


@pytest.fixture
async def starting_up_server() -> AsyncIterator[str]:
    """A PostgreSQL stand-in that answers every connection as a starting server does (57P03)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # an SSLRequest first (answered "N": no TLS), then the startup message
            length = int.from_bytes(await reader.readexactly(4), "big")
            payload = await reader.readexactly(length - 4)
            if payload != _SSL_REQUEST:
                break
            writer.write(b"N")
        fields = b"SFATAL\0C57P03\0Mthe database system is starting up\0\0"
        writer.write(b"E" + (len(fields) + 4).to_bytes(4, "big") + fields)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"postgresql://nobody:nothing@127.0.0.1:{port}/pe_portal"


async def test_database_starting_up_is_503(settings: Settings, starting_up_server: str) -> None:
    engine = create_engine(settings, starting_up_server, pool_size=1)
    app = create_app(settings, engine=engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            body = {"email": "starting@example.com", "password": "correct horse battery staple"}
            response = await client.post("/api/v1/auth/register", json=body)
    finally:
        await engine.dispose()
    assert response.status_code == 503
