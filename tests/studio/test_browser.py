"""The studio in a real browser: sign in with the printed token, find a user, deactivate it,
see the audit row. Screenshot: test-artifacts/studio.png."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.audit.models import AuditAction
from pe_portal.config import Settings
from tests.browser import ARTIFACTS, chromium
from tests.studio.conftest import audit_rows, fetch_user, make_user

pytestmark = pytest.mark.browser


@dataclass
class Studio:
    base: str
    token: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_token(output: Path, process: subprocess.Popen[bytes]) -> str:
    for _ in range(300):
        found = re.search(r"^access token: (\S+)$", output.read_text(), re.MULTILINE)
        if found:
            return found.group(1)
        if process.poll() is not None:
            raise AssertionError(f"studio exited: {output.read_text()}")
        time.sleep(0.1)
    raise AssertionError("the studio printed no access token")


def _wait_until_up(base: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(f"{base}/admin/login", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the studio did not come up")


@pytest.fixture
def studio_process(settings: Settings, engine: AsyncEngine, tmp_path: Path) -> Iterator[Studio]:
    """`pe-portal studio` as an operator starts it, on the test database."""
    port, output = _free_port(), tmp_path / "studio.out"
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("PROMETHEUS")},
        "DATABASE_URL": settings.database_url or "",
        "DATABASE_MIGRATION_URL": settings.database_migration_url or "",
        "COLUMNS": "200",
    }
    with output.open("w") as stdout:
        process = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "pe_portal.cli", "studio", "--port", str(port)],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
            start_new_session=True,
        )
    try:
        token = _wait_for_token(output, process)
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base)
        yield Studio(base, token)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


async def _sign_in(page: Page, studio: Studio) -> None:
    await page.goto(f"{studio.base}/admin/user/list")
    await expect(page).to_have_url(re.compile(r"/admin/login$"))
    await page.fill("#token", studio.token)
    await page.fill("#operator", "playwright")
    await page.select_option("#zone", "Europe/Paris")
    await page.click("button[type=submit]")


async def _deactivate(page: Page, studio: Studio, email: str) -> None:
    await page.goto(f"{studio.base}/admin/user/list")
    await page.fill("#search-input", email)
    await page.click("#search-button")
    row = page.locator("tbody tr", has_text=email)
    await expect(row).to_have_count(1)
    await row.locator("input.select-box").check()
    await page.click("#dropdownMenuButton")
    await page.click("#action-customconfirm-deactivate")
    await page.click("#action-custom-modal-deactivate")
    await expect(page.get_by_text("Deactivated 1 user(s).")).to_be_visible()


async def test_an_operator_deactivates_a_user_and_sees_the_audit_row(
    studio_process: Studio, engine: AsyncEngine, settings: Settings, committed: None
) -> None:
    user = await make_user(engine, settings, first_name="Grace", last_name="Hopper")
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await _sign_in(page, studio_process)
        await expect(page.locator("#studio-topbar")).to_contain_text("Europe/Paris")
        await _deactivate(page, studio_process, user.email)
        await page.get_by_role("link", name="Audit logs").click()
        newest = page.locator("tbody tr").first
        await expect(newest).to_contain_text("USER_DEACTIVATED")
        await expect(newest).to_contain_text("studio:playwright")
        await expect(newest).to_contain_text(re.compile(r"CES?T"))
        await page.screenshot(path=ARTIFACTS / "studio.png", full_page=True)
    assert not (await fetch_user(engine, user.id)).is_active
    [row] = await audit_rows(engine, user.id, AuditAction.USER_DEACTIVATED)
    assert row.details is not None
    assert row.details["actor"] == "studio:playwright"
