"""Rendering and transport tests need no database (`mail_settings`: mail in the test's temporary
directory); the outbox tests use the test database and `default_outbox`."""

from __future__ import annotations

from pathlib import Path

import pytest

from pe_portal.config import Settings
from pe_portal.mail import outbox
from pe_portal.mail.outbox import Outbox


@pytest.fixture
def mail_settings(tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        mail_dir=tmp_path / "mail",
        mail_from="Investor Portal <no-reply@portal.example>",
        public_url="https://portal.example/",
        mail_send_attempts=3,
        mail_retry_base_delay=0.01,
        _env_file=None,
    )


@pytest.fixture
def default_outbox(settings: Settings) -> Outbox:
    """The process's outbox (what `mail.send` renders with) for the test database's settings,
    so a test may queue mail before it builds the outbox that delivers it."""
    return outbox.start(settings)
