"""The studio over ASGI on the test database (real commits: sqladmin opens its own sessions)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from pe_portal.audit.models import AuditLog
from pe_portal.config import Settings
from pe_portal.context import RequestContext
from pe_portal.db.engine import create_sessionmaker, transaction
from pe_portal.studio.app import create_studio_app
from pe_portal.users import service as users
from pe_portal.users.models import User
from tests.factories import PASSWORD, unique_email

TOKEN = "test-access-token-0123456789"
BROWSER = {"User-Agent": "studio-test-browser"}


@pytest.fixture
def studio_app(engine: AsyncEngine, committed: None) -> Starlette:
    return create_studio_app(engine, access_token=TOKEN)


@pytest.fixture
async def studio(studio_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client that has not signed in."""
    transport = httpx.ASGITransport(app=studio_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=BROWSER
    ) as client:
        yield client


async def sign_in(
    client: httpx.AsyncClient, *, token: str = TOKEN, operator: str = "alice", zone: str = "UTC"
) -> httpx.Response:
    form = {"token": token, "operator": operator, "zone": zone}
    return await client.post("/admin/login", data=form)


@pytest.fixture
async def operator(studio: httpx.AsyncClient) -> httpx.AsyncClient:
    """A client signed in as operator `alice`, times in UTC."""
    response = await sign_in(studio)
    assert response.status_code == 302, response.text
    return studio


async def make_user(engine: AsyncEngine, settings: Settings, **names: Any) -> User:
    """A committed account made by the users service, as `users create` makes one."""
    async with transaction(create_sessionmaker(engine)) as session:
        return await users.create_user(
            session,
            email=unique_email("studio"),
            password=PASSWORD,
            first_name=names.get("first_name", "Ada"),
            last_name=names.get("last_name", "Lovelace"),
            context=RequestContext(actor="test"),
            settings=settings,
        )


async def fetch_user(engine: AsyncEngine, user_id: str) -> User:
    async with create_sessionmaker(engine)() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user


async def audit_rows(engine: AsyncEngine, user_id: str, action: str) -> list[AuditLog]:
    async with create_sessionmaker(engine)() as session:
        query = select(AuditLog).where(AuditLog.user_id == user_id, AuditLog.action == action)
        return list((await session.scalars(query)).all())
