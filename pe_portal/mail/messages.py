"""Rendering: one message as plain text and HTML, in the recipient's language and timezone."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import cache, partial
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2

from pe_portal.clock import utcnow
from pe_portal.config import Settings

DEFAULT_LANGUAGE = "en"

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("pe_portal.mail", "templates"),
    # Only the plain-text part is left unescaped: anything else that is ever added is HTML-safe.
    autoescape=jinja2.select_autoescape(disabled_extensions=("txt",), default=True),
    undefined=jinja2.StrictUndefined,  # a context key a template needs and did not get is a bug
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@cache
def _available() -> frozenset[str]:
    return frozenset(_env.list_templates())


def resolve_language(language: str | None, template: str) -> str:
    """The tag itself, else its primary language, else English: the first that has `template`."""
    tag = (language or "").strip().replace("_", "-").lower()
    for candidate in (tag, tag.split("-")[0], DEFAULT_LANGUAGE):
        if candidate and f"{candidate}/{template}.txt" in _available():
            return candidate
    raise ValueError(f"unknown mail template {template!r}")


def resolve_zone(timezone: str | None) -> ZoneInfo:
    """The recipient's IANA zone; UTC when unset or unknown (profiles are validated upstream)."""
    try:
        return ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_time(value: datetime, *, zone: ZoneInfo) -> str:
    """`2025-01-09 13:30 Europe/Paris (UTC+01:00)`: unambiguous in every language."""
    if value.tzinfo is None:  # timestamps read from the database are naive UTC
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(zone)
    if zone.key == "UTC":
        return f"{local:%Y-%m-%d %H:%M} UTC"
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {zone.key} (UTC{offset[:3]}:{offset[3:]})"


def _link(public_url: str, path: str, **params: str) -> str:
    query = f"?{urlencode(params)}" if params else ""
    return f"{public_url.rstrip('/')}{path}{query}"


def _render_block(template: jinja2.Template, block: str, variables: dict[str, Any]) -> str:
    context = template.new_context(variables)
    return "".join(template.blocks[block](context)).strip()


def render(
    template: str,
    *,
    to: str,
    language: str | None,
    timezone: str | None,
    context: Mapping[str, Any],
    settings: Settings,
) -> EmailMessage:
    """One multipart/alternative message (text + HTML) from `settings.mail_from` to `to`.

    Raises ValueError for an unknown template or a malformed address, and
    jinja2.UndefinedError when `context` lacks a key the template uses.
    """
    lang = resolve_language(language, template)
    variables = {
        **context,
        "lang": lang,
        "local": partial(format_time, zone=resolve_zone(timezone)),
        "url": partial(_link, settings.public_url),
    }
    text_template = _env.get_template(f"{lang}/{template}.txt")
    subject = _render_block(text_template, "subject", variables)
    text = text_template.render(variables)
    html = _env.get_template(f"{lang}/{template}.html").render(variables, subject=subject)
    return _compose(settings, to=to, subject=subject, lang=lang, text=text, html=html)


def _compose(
    settings: Settings, *, to: str, subject: str, lang: str, text: str, html: str
) -> EmailMessage:
    message = EmailMessage()
    message.set_content(text)  # set_content() clears Content-* headers: it goes first
    message.add_alternative(html, subtype="html")
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=_sender_domain(settings.mail_from))
    message["Content-Language"] = lang
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
    return message


def _sender_domain(mail_from: str) -> str:
    # Given explicitly so make_msgid does not look up the host's FQDN (a DNS call).
    return parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"


def recipient_domain(address: str) -> str:
    """The domain of an address: what logs and the outbox show instead of the address."""
    return parseaddr(address)[1].rpartition("@")[2].lower() or "unknown"
