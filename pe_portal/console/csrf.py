"""CSRF protection for every form (signed double submit): the browser holds a random nonce in an
HttpOnly cookie; each form carries an HMAC of it under the server's secret. A page from another
site can make the browser send the cookie, but cannot read it, so it cannot write the field.
The Origin header, when the browser sends one, must be the portal's own as well."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request

from pe_portal.config import Settings
from pe_portal.console import cookies
from pe_portal.errors import Forbidden

FIELD = "csrf_token"
_NONCE_BYTES = 32
_MAX_FIELD = 128


class CsrfRefused(Forbidden):
    code = "csrf_refused"
    message = "This form has expired or did not come from this site. Reload the page and try again."


def _sign(settings: Settings, nonce: str) -> str:
    key = settings.secret_key.encode()
    return hmac.new(key, b"csrf:" + nonce.encode(), hashlib.sha256).hexdigest()


def token(request: Request) -> str:
    """The field value for the forms of this page, queuing a nonce cookie if there is none."""
    settings: Settings = request.app.state.settings
    nonce = cookies.pending_value(request, cookies.CSRF_COOKIE)
    if not nonce:
        nonce = secrets.token_urlsafe(_NONCE_BYTES)
        # A day: a form left open that long needs a reload; a session cookie outlives it.
        cookies.queue(request, cookies.CookieChange(cookies.CSRF_COOKIE, nonce, 86_400))
    return _sign(settings, nonce)


def _same_origin(request: Request, settings: Settings) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # no Origin header (older browsers): the token alone decides
    own = {_origin(settings.public_url), _origin(str(request.base_url))}
    return _origin(origin) in own


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def check(request: Request) -> None:
    """Refuse a state-changing request whose form token does not match the browser's nonce."""
    settings: Settings = request.app.state.settings
    nonce = request.cookies.get(cookies.CSRF_COOKIE, "")
    sent = (await request.form()).get(FIELD)
    if not isinstance(sent, str):
        sent = request.headers.get("x-csrf-token", "")
    valid = (
        bool(nonce)
        and len(sent) <= _MAX_FIELD
        and hmac.compare_digest(sent, _sign(settings, nonce))
    )
    if not valid or not _same_origin(request, settings):
        raise CsrfRefused()
