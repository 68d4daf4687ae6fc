"""The console's journeys in Debian's Chromium, end to end: the real server, real mail, every
page checked with axe-core and photographed (test-artifacts/console-*.png), nothing fetched
from off this machine."""

from __future__ import annotations

import re
from itertools import count

import pyotp
import pytest
from playwright.async_api import Browser, Page, expect

from tests.console.conftest import PASSWORD, Console, Visit, checked, visit

pytestmark = pytest.mark.browser
_numbers = count(1)


def new_email() -> str:
    return f"investor{next(_numbers)}@example.com"


async def register(page: Page, email: str, *, first_name: str = "Ada") -> None:
    await page.goto("/account/register")
    await page.get_by_label("First name").fill(first_name)
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create the account").click()
    await expect(page.get_by_role("status")).to_contain_text("Your account is ready")


async def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    await page.goto("/account/sign-in")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def signed_up(browser: Browser, console: Console) -> tuple[Visit, str]:
    device = await visit(browser, console)
    email = new_email()
    await register(device.page, email)
    await sign_in(device.page, email)
    await expect(device.page).to_have_url(re.compile(r"/account$"))
    return device, email


async def test_register_then_verify_the_address_from_the_mail(
    browser: Browser, console: Console
) -> None:
    device = await visit(browser, console)
    page, email = device.page, new_email()
    await page.goto("/account/register")
    await checked(page, "register")
    await register(page, email)
    await checked(page, "sign-in")

    link = await console.mail_link(email, "/verify-email")
    await page.goto(link)
    await checked(page, "verify-email")
    await page.get_by_role("button", name="Confirm my e-mail address").click()
    # Not signed in yet: the verified address waits behind the sign-in.
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#email-heading + p")).to_contain_text("verified")
    await expect(page.locator("#email-heading + p")).not_to_contain_text("not verified")
    await checked(page, "account")

    await page.goto(link)  # the link is spent
    await expect(page.get_by_role("heading", level=1)).to_have_text("This link cannot be used")
    assert device.refused == []
