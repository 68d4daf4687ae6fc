"""The console's journeys in Debian's Chromium, end to end: the real server, real mail, every
page checked with axe-core and photographed (test-artifacts/console-*.png), nothing fetched
from off this machine."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from itertools import count
from zoneinfo import ZoneInfo

import pyotp
import pytest
from playwright.async_api import Browser, Page, expect

from pe_portal import i18n
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


async def test_signing_out_another_device_ends_its_session(
    browser: Browser, console: Console
) -> None:
    laptop, email = await signed_up(browser, console)
    phone = await visit(browser, console)
    await sign_in(phone.page, email)
    await expect(phone.page).to_have_url(re.compile(r"/account$"))

    await laptop.page.goto("/account/sessions")
    rows = laptop.page.locator("tbody tr")
    await expect(rows).to_have_count(2)
    await expect(laptop.page.locator("tr[aria-current=true]")).to_contain_text("this browser")
    await checked(laptop.page, "sessions")
    other = laptop.page.locator("tbody tr:not([aria-current])")
    await other.get_by_role("button", name="Sign out").click()
    await expect(laptop.page.get_by_role("status")).to_have_text("That device is signed out.")
    await expect(rows).to_have_count(1)

    await phone.page.goto("/account/activity")  # the revoked device is sent to sign in
    await expect(phone.page).to_have_url(
        re.compile(r"/account/sign-in\?next=%2Faccount%2Factivity")
    )
    await laptop.page.goto("/account/activity")  # this one is still signed in
    await expect(laptop.page.get_by_role("heading", level=1)).to_have_text("Your activity")
    await expect(laptop.page.locator("tbody")).to_contain_text("Device signed out")
    assert laptop.refused == phone.refused == []


async def test_totp_enrolment_then_sign_in_with_a_code(browser: Browser, console: Console) -> None:
    device, email = await signed_up(browser, console)
    page = device.page
    await page.goto("/account/security")
    await checked(page, "security")
    await page.get_by_role("button", name="Set up an authenticator app").click()
    await expect(
        page.get_by_role("img", name="QR code of your new authenticator key")
    ).to_be_visible()
    await checked(page, "totp-setup")
    secret = (await page.locator("code.secret").inner_text()).strip()
    await page.get_by_label("Code from your authenticator app").fill("000000")
    await page.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("alert")).to_contain_text("not correct")
    await page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Confirm").click()
    codes = page.get_by_role("list", name="Recovery codes").locator("li")
    await expect(codes).to_have_count(10)
    recovery_code = (await codes.first.inner_text()).strip()
    await checked(page, "recovery-codes")

    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, email)
    await expect(page).to_have_url(re.compile(r"/account/sign-in/second-factor"))
    await checked(page, "second-factor")
    await page.get_by_label("Code from your authenticator app").fill("123456")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    # The confirming code's step is spent; the next step's code signs in.
    await page.get_by_label("Code from your authenticator app").fill(_fresh_code(secret))
    await page.get_by_role("button", name="Continue").click()
    await expect(page).to_have_url(re.compile(r"/account$"))

    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, email)
    await page.get_by_label("Recovery code").fill(recovery_code)
    await page.get_by_role("button", name="Use a recovery code").click()
    await expect(page).to_have_url(re.compile(r"/account$"))
    assert device.refused == []


def _fresh_code(secret: str) -> str:
    """The next time step's code (accepted: one step of drift), as this step's was spent by
    the confirmation."""
    return pyotp.TOTP(secret).at(time.time() + 30)


async def _virtual_authenticator(device: Visit) -> None:
    """Chromium's virtual authenticator (DevTools WebAuthn domain): a platform passkey that
    verifies its user, as a laptop's fingerprint reader would."""
    cdp = await device.context.new_cdp_session(device.page)
    await cdp.send("WebAuthn.enable")
    await cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


async def test_a_passkey_added_then_used_to_sign_in(browser: Browser, console: Console) -> None:
    device, email = await signed_up(browser, console)
    page = device.page
    await _virtual_authenticator(device)
    await page.goto("/account/security")
    await page.get_by_label("Name of this passkey").fill("Work laptop")
    await page.get_by_role("button", name="Add a passkey").click()
    await expect(page.get_by_role("list", name="Recovery codes").locator("li")).to_have_count(10)
    await page.goto("/account/security")
    await expect(page.locator("tbody")).to_contain_text("Work laptop")

    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, email)
    await page.get_by_role("button", name="Use the passkey “Work laptop”").click()
    await expect(page).to_have_url(re.compile(r"/account$"))
    await page.goto("/account/activity")
    await expect(page.locator("tbody")).to_contain_text("Second factor used")
    assert device.refused == []


async def test_forgot_password_then_reset_from_the_mail(browser: Browser, console: Console) -> None:
    device, email = await signed_up(browser, console)
    page = device.page
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_role("link", name="Forgot your password?").click()
    await checked(page, "forgot-password")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_role("button", name="Send the link").click()
    await expect(page.get_by_role("status")).to_contain_text("we sent it a link")

    await page.goto(await console.mail_link(email, "/reset-password"))
    await checked(page, "reset-password")
    await page.get_by_label("New password").fill("short")
    await page.get_by_role("button", name="Save the new password").click()
    await expect(page.locator("#newPassword-error")).to_have_text("This password is too short.")
    await expect(page.get_by_label("New password")).to_have_attribute("aria-invalid", "true")
    await page.get_by_label("New password").fill("another long passphrase 8")
    await page.get_by_role("button", name="Save the new password").click()
    await expect(page.get_by_role("status")).to_contain_text("Your password is changed")

    await sign_in(page, email)  # the old password no longer works
    await expect(page.get_by_role("alert")).to_have_text("The e-mail or password is not correct.")
    await sign_in(page, email, "another long passphrase 8")
    await expect(page).to_have_url(re.compile(r"/account$"))
    assert device.refused == []


async def test_activity_in_the_persons_zone_and_language(
    browser: Browser, console: Console
) -> None:
    device, _ = await signed_up(browser, console)
    page = device.page
    await page.get_by_label("Time zone").select_option("Asia/Tokyo")
    await page.get_by_label("Language").select_option("fr")
    await page.get_by_role("button", name="Save").click()

    french = i18n.translations("fr").gettext
    await page.goto("/account/activity")
    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    await expect(page.get_by_role("heading", level=1)).to_have_text(french("Your activity"))
    assert french("Your activity") != "Your activity"
    first_row = page.locator("tbody tr").first
    await expect(first_row).to_contain_text(french("Profile changed"))
    await expect(first_row).to_contain_text("Asia/Tokyo (UTC+09:00)")
    await checked(page, "activity-fr")

    # A day filter is a day in Tokyo: tomorrow there has nothing yet.
    tomorrow = (datetime.now(ZoneInfo("Asia/Tokyo")) + timedelta(days=1)).date().isoformat()
    await page.goto(f"/account/activity?from={tomorrow}")
    await expect(page.locator("tbody")).to_contain_text(
        french("Nothing to show for these filters.")
    )
    await page.goto("/account/activity?action=LOGIN")
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.locator("tbody")).to_contain_text(french("Signed in"))
    # Search the trail by words of its rows (the browser's user agent here).
    await page.goto("/account/activity")
    await page.get_by_label(french("Search")).fill("HeadlessChrome")
    await page.get_by_role("button", name=french("Show")).click()
    await expect(page.locator("tbody tr")).not_to_have_count(0)
    await page.get_by_label(french("Search")).fill("no row says this")
    await page.get_by_role("button", name=french("Show")).click()
    await expect(page.locator("tbody")).to_contain_text(
        french("Nothing to show for these filters.")
    )
    assert device.refused == []


async def test_a_form_posted_from_another_site_is_refused(
    browser: Browser, console: Console
) -> None:
    """127.0.0.1 is another site than localhost: its page posts to the console's sign-out."""
    device, _ = await signed_up(browser, console)
    attacker = device.page
    await attacker.route(
        "http://127.0.0.1:9/evil",
        lambda route: route.fulfill(
            content_type="text/html",
            body=f'<form method="post" action="{console.url}/account/sign-out">'
            '<input name="csrf_token" value="guess"><button>Win a prize</button></form>',
        ),
    )
    await attacker.goto("http://127.0.0.1:9/evil")
    await attacker.get_by_role("button", name="Win a prize").click()
    await expect(attacker.get_by_role("alert")).to_contain_text("did not come from this site")
    await attacker.goto("/account/sessions")  # still signed in
    await expect(attacker.get_by_role("heading", level=1)).to_have_text("Your devices")


async def test_each_page_weighs_under_100_kb(browser: Browser, console: Console) -> None:
    device, _ = await signed_up(browser, console)
    for path in ("/account", "/account/sessions", "/account/security", "/account/activity",
                 "/account/sign-in", "/account/register", "/account/forgot-password"):  # fmt: skip
        await device.page.goto(path)  # HTML, CSS and script, as the browser decoded them
        weight = await device.page.evaluate(
            "performance.getEntriesByType('navigation').concat("
            "performance.getEntriesByType('resource')).reduce((sum, e) => sum + e.decodedBodySize, 0)"
        )
        assert 0 < weight < 100_000, (path, weight)
