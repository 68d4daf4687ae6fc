"""Mail tests need no database: their own settings, mail in the test's temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from pe_portal.config import Settings


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
