"""Debian's Chromium driven by Playwright, for every page test: launched headless, and (for the
pages meant to work on an air-gapped network) with every request off this machine refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import Browser, Page, Route, async_playwright

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def offline(page: Page) -> list[str]:
    """Refuse every request that would leave loopback; the returned list fills with their URLs."""
    refused: list[str] = []

    async def gate(route: Route) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in _LOOPBACK:
            await route.continue_()
        else:
            refused.append(url)
            await route.abort()

    await page.route("**/*", gate)
    return refused
