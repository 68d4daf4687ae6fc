"""`/docs` and `/redoc` in Chromium with every request off this machine refused (an air-gapped
network): both render the operations, from the server's own files, under a CSP that would
refuse anything else. Screenshots: test-artifacts/docs.png, test-artifacts/redoc.png."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import ConsoleMessage, expect

from tests.browser import ARTIFACTS, chromium, offline
from tests.robustness.served import Served

pytestmark = pytest.mark.browser
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.mark.parametrize(
    ("page_path", "operation"),
    [
        ("/docs", ".opblock-summary-path[data-path='/api/v1/auth/login']"),
        ("/redoc", "[data-section-id='tag/auth/operation/login_api_v1_auth_login_post']"),
    ],
)
async def test_the_api_docs_render_offline(served: Served, page_path: str, operation: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        refused = await offline(page)
        violations: list[str] = []

        def note(message: ConsoleMessage) -> None:
            # ReDoc's footer links its logo from its CDN, unconditionally: the policy refuses it
            # (and ReDoc hides the image). Any other refusal is a page that needs the internet.
            if "Content Security Policy" in message.text and REDOC_LOGO not in message.text:
                violations.append(message.text)

        page.on("console", note)
        await page.goto(served.url + page_path)
        await expect(page.locator(operation)).to_be_visible(timeout=20_000)
        await page.screenshot(path=ARTIFACTS / f"{page_path.strip('/')}.png")
    assert refused == []
    assert violations == []


def test_the_docs_pages_forbid_inline_scripts_and_other_origins(served: Served) -> None:
    for path in ("/docs", "/redoc"):
        response = httpx.get(served.url + path)
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "script-src 'self';" in policy  # no 'unsafe-inline', no other origin
        assert "cdn" not in response.text
        assert "<script>" not in response.text  # every script is a file of this server
