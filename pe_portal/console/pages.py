"""Rendering a console page: its language and zone, the CSRF token of its forms, the CSP, and
the cookies the request queued. Every page answer goes through `render` or `redirect`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pe_portal import i18n
from pe_portal.console import cookies, csrf, messages

# Nothing inline, nothing from elsewhere: scripts and styles are the package's own files.
# `img-src data:` is the TOTP QR code; `form-action 'self'` keeps forms from posting away.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_LANGUAGE = "console_language"
_ZONE = "console_zone"


def set_person(request: Request, *, language: str | None, timezone: str | None) -> None:
    """The signed-in person's language and zone, from their profile, for this request's pages."""
    setattr(request.state, _LANGUAGE, language)
    setattr(request.state, _ZONE, timezone)


def language(request: Request) -> str:
    """The profile's language, else the browser's (Accept-Language), else English."""
    chosen: str | None = getattr(request.state, _LANGUAGE, None)
    return i18n.negotiate(chosen, request.headers.get("accept-language"))


def zone_name(request: Request) -> str | None:
    zone: str | None = getattr(request.state, _ZONE, None)
    return zone


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    zone = i18n.resolve_zone(zone_name(request))
    environment = i18n.templates("pe_portal.console", lang)

    def local(value: datetime | None) -> str:
        return "" if value is None else i18n.format_datetime(value, zone=zone, language=lang)

    context.setdefault("notice", messages.notice(request.query_params.get("done"), lang))
    html = environment.get_template(template).render(
        **context,
        lang=lang,
        zone=zone.key,
        local=local,
        csrf_field=csrf.FIELD,
        csrf_token=csrf.token(request),
        path=request.url.path,
        password_min_length=request.app.state.settings.password_min_length,
    )
    response = HTMLResponse(html, status_code=status, headers=security_headers())
    cookies.apply(request, response)
    return response


def security_headers() -> dict[str, str]:
    return {"Content-Security-Policy": CONTENT_SECURITY_POLICY}  # X-Frame-Options: middleware


def redirect(request: Request, path: str, **params: str) -> Response:
    """303 See Other after a form (the browser then GETs `path`: a reload never re-posts)."""
    query = f"?{urlencode(params)}" if params else ""
    response = RedirectResponse(f"{path}{query}", status_code=303)
    cookies.apply(request, response)
    return response
