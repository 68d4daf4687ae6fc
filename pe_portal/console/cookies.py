"""The browser's session: two cookies over one `sessions` row, so a browser is a device like any
other (listed, revoked, expiring as the API's sessions do).

`pe_session` holds the session's refresh token (the row's lifetime: sliding REFRESH_TOKEN_TTL
within SESSION_MAX_AGE); `pe_access` an access token (ACCESS_TOKEN_TTL). A page reads the access
token, checked like a bearer token (revocation takes effect on the next page); once it has
lapsed, the refresh token is rotated exactly as `POST /auth/refresh` does. Both are `HttpOnly`,
`SameSite=Lax`, and `Secure` when the portal is served over TLS.

Changes are queued on the request and written by whatever response the page returns
(`pages.render`, `pages.redirect`), so a handler never forgets one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import Request, Response

from pe_portal.config import Settings

SESSION_COOKIE = "pe_session"
ACCESS_COOKIE = "pe_access"
CSRF_COOKIE = "pe_csrf"
MFA_COOKIE = "pe_mfa"  # the pending second step of a sign-in: its mfaToken
_PENDING = "console_cookies"


@dataclass(frozen=True)
class CookieChange:
    name: str
    value: str | None  # None: delete
    max_age: int = 0
    path: str = "/"
    same_site: Literal["lax", "strict"] = "lax"


def _queue(request: Request) -> list[CookieChange]:
    pending: list[CookieChange] | None = getattr(request.state, _PENDING, None)
    if pending is None:
        pending = []
        setattr(request.state, _PENDING, pending)
    return pending


def queue(request: Request, change: CookieChange) -> None:
    _queue(request).append(change)


def pending_value(request: Request, name: str) -> str | None:
    """A cookie as the browser will hold it after this response: queued change, else sent."""
    for change in reversed(_queue(request)):
        if change.name == name:
            return change.value
    return request.cookies.get(name)


def keep_signed_in(
    request: Request, *, access_token: str, refresh_token: str, settings: Settings
) -> None:
    queue(request, CookieChange(ACCESS_COOKIE, access_token, settings.access_token_ttl))
    # The row's sliding lifetime; SESSION_MAX_AGE still ends it on the server.
    queue(request, CookieChange(SESSION_COOKIE, refresh_token, settings.refresh_token_ttl))


def forget_session(request: Request) -> None:
    queue(request, CookieChange(ACCESS_COOKIE, None))
    queue(request, CookieChange(SESSION_COOKIE, None))


def secure(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.public_url.startswith("https://")


def apply(request: Request, response: Response) -> Response:
    """Write the queued changes onto `response` (and say it must not be cached: it is personal)."""
    settings: Settings = request.app.state.settings
    for change in _queue(request):
        if change.value is None:
            response.delete_cookie(
                change.name, path=change.path, httponly=True, samesite=change.same_site,
                secure=secure(request, settings),
            )  # fmt: skip
        else:
            response.set_cookie(
                change.name, change.value, max_age=change.max_age, path=change.path,
                httponly=True, samesite=change.same_site, secure=secure(request, settings),
            )  # fmt: skip
    response.headers["Cache-Control"] = "no-store"
    return response
