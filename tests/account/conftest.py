"""The app on the test's rolled-back transaction, sending its mail to a real SMTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.web.app import create_app
from tests.smtp import SmtpServer


@pytest.fixture
def mail_app(
    app: FastAPI, settings: Settings, engine: AsyncEngine, smtp_server: SmtpServer
) -> FastAPI:
    """Like `app` (same rolled-back session), with SMTP_URL at `smtp_server`."""
    mail_settings = smtp_server.settings_for(settings, public_url="https://portal.example")
    return create_app(
        mail_settings,
        engine=engine,
        sessionmaker=app.state.sessionmaker,
        driver_connections=app.state.driver_connections,
    )


@pytest.fixture
async def mail_client(mail_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=mail_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
