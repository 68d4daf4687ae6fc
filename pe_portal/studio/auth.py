"""Who may use the studio: the one-time access token, the operator's name and time zone."""

from __future__ import annotations

import functools
import re
import secrets
from zoneinfo import ZoneInfo, available_timezones

from sqladmin.authentication import AuthenticationBackend
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pe_portal.context import RequestContext

SESSION_COOKIE = "pe_portal_studio"
# An operator signs in again after a working day; a restart ends every session anyway.
SESSION_MAX_AGE = 8 * 3600
DEFAULT_ZONE = "UTC"
_OPERATOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_OPERATOR_KEY = "operator"
_ZONE_KEY = "zone"


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


@functools.cache
def time_zones() -> list[str]:
    """The IANA zone names an operator may choose, sorted."""
    return sorted(_zones())


def is_time_zone(name: str) -> bool:
    """Only names from the IANA database: never a path that ZoneInfo would try to open."""
    return name in _zones()


class TokenAuth(AuthenticationBackend):
    """Sign-in with the access token printed at start; the cookie is signed with a per-run
    secret, so a restart (a new token) ends every studio session."""

    def __init__(self, access_token: str) -> None:
        super().__init__(
            secret_key=secrets.token_urlsafe(32),
            session_cookie=SESSION_COOKIE,
            max_age=SESSION_MAX_AGE,
            # Strict: a link or form on another site never carries the studio's cookie.
            same_site="strict",
            https_only=False,
        )
        self._token = access_token.encode()

    async def login(self, request: Request) -> bool:
        form = await request.form()
        token, operator, zone = (str(form.get(key) or "").strip() for key in _LOGIN_FIELDS)
        refusal = self._refusal(token, operator, zone)
        if refusal is not None:
            request.state.login_error = refusal
            return False
        request.session.clear()
        request.session.update({_OPERATOR_KEY: operator, _ZONE_KEY: zone})
        return True

    def _refusal(self, token: str, operator: str, zone: str) -> str | None:
        if not secrets.compare_digest(token.encode(), self._token):
            return "That is not the access token this studio printed when it started."
        if not _OPERATOR.fullmatch(operator):
            return (
                "Your name: 1 to 64 letters, digits or . _ @ - (it is recorded in the audit log)."
            )
        if not is_time_zone(zone):
            return "Choose a time zone from the list (an IANA name such as Europe/Paris)."
        return None

    async def logout(self, request: Request) -> Response:
        request.session.clear()
        return RedirectResponse(request.url_for("admin:login"), status_code=302)

    async def authenticate(self, request: Request) -> bool:
        return bool(request.session.get(_OPERATOR_KEY))

    async def get_user_id(self, request: Request) -> str | None:
        return operator_name(request)


_LOGIN_FIELDS = ("token", "operator", "zone")


def operator_name(request: Request) -> str | None:
    name = request.session.get(_OPERATOR_KEY)
    return name if isinstance(name, str) else None


def operator_zone(request: Request) -> ZoneInfo:
    """The zone the operator chose at sign-in (UTC when none)."""
    zone = request.session.get(_ZONE_KEY)
    return ZoneInfo(zone if isinstance(zone, str) and is_time_zone(zone) else DEFAULT_ZONE)


def operator_context(request: Request) -> RequestContext:
    """Audit context of a studio change: the operator as actor, with their IP and browser."""
    return RequestContext(
        actor=f"studio:{operator_name(request)}",
        ip_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )
