"""The console under test: the real server (`pe-portal serve`) at http://localhost:PORT (so
passkeys work: WebAuthn refuses IP addresses), mailing through a real SMTP server, and Debian's
Chromium with every request off this machine refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.db.runtime import DatabaseUrls
from tests.browser import ARTIFACTS, chromium, offline
from tests.conftest import CLEAN_ALL, PgCluster
from tests.robustness.served import Served, free_port, serve, server_env
from tests.smtp import SmtpServer, link, text_of

AXE = Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"
PASSWORD = "a long enough passphrase 7"
_MAILS_PASSED_OVER = 5


@dataclass
class Console:
    url: str  # http://localhost:PORT, the PUBLIC_URL
    served: Served
    smtp: SmtpServer

    async def mail_link(self, to: str, path: str) -> str:
        """The link to `path` in the next mail to `to` that has one (earlier mails, such as the
        verification sent on registering, are passed over)."""
        for _ in range(_MAILS_PASSED_OVER):
            message = await self.smtp.next_message(to)
            if path in text_of(message):
                return link(message, path)
        raise AssertionError(f"no mail to {to} linked to {path}")


@pytest.fixture(scope="module")
def console(
    test_db: PgCluster, engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    home = tmp_path_factory.mktemp("console")
    port = free_port()
    public = f"http://localhost:{port}"
    urls = DatabaseUrls(test_db.urls.app, test_db.urls.migration)
    with SmtpServer() as smtp:
        env = server_env(
            urls, home, PUBLIC_URL=public, SMTP_URL=smtp.url, MAIL_POLL_INTERVAL="0.1",
            MAIL_RETRY_BASE_DELAY="0.01",
        )  # fmt: skip
        try:
            with serve(env, home, port=port) as served:
                yield Console(public, served, smtp)
        finally:
            test_db.admin_sql(CLEAN_ALL)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@dataclass
class Visit:
    """One browser profile (a device): its context, page, and the requests it was refused."""

    context: BrowserContext
    page: Page
    refused: list[str] = field(default_factory=list)


async def visit(
    browser: Browser, console: Console, *, locale: str = "en-GB", timezone: str = "UTC"
) -> Visit:
    context = await browser.new_context(base_url=console.url, locale=locale, timezone_id=timezone)
    page = await context.new_page()
    return Visit(context, page, await offline(page))


async def axe_violations(page: Page) -> list[dict[str, object]]:
    """axe-core's serious and critical findings on the page as it is now. Injected through the
    DevTools protocol (page.evaluate), which the page's CSP does not govern."""
    await page.evaluate(AXE.read_text())
    results = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": item["id"], "impact": item["impact"], "nodes": [n["html"] for n in item["nodes"]]}
        for item in results["violations"]
        if item["impact"] in ("serious", "critical")
    ]


async def checked(page: Page, name: str) -> None:
    """Every page a journey reaches: no serious accessibility problem, and a screenshot."""
    violations = await axe_violations(page)
    assert violations == [], json.dumps(violations, indent=1)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"console-{name}.png", full_page=True)


def csrf_of(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]
