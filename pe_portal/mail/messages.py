"""Rendering: one message as plain text and HTML, in the recipient's language and timezone.

One template per message and part (`templates/<name>.txt|.html`); the words come from the shared
catalogs (`pe_portal.i18n`), so the mails and the console say things the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import cache, partial
from typing import Any
from urllib.parse import urlencode

import jinja2

from pe_portal import i18n
from pe_portal.clock import utcnow
from pe_portal.config import Settings

_PACKAGE = "pe_portal.mail"


@cache
def _available() -> frozenset[str]:
    # The same files serve every language: the English environment lists them.
    return frozenset(i18n.templates(_PACKAGE, i18n.DEFAULT_LANGUAGE).list_templates())


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
    if f"{template}.txt" not in _available():
        raise ValueError(f"unknown mail template {template!r}")
    lang = i18n.negotiate(language)
    variables = {
        **context,
        "lang": lang,
        "local": partial(i18n.format_datetime, zone=i18n.resolve_zone(timezone), language=lang),
        "url": partial(_link, settings.public_url),
    }
    environment = i18n.templates(_PACKAGE, lang)
    text_template = environment.get_template(f"{template}.txt")
    subject = _render_block(text_template, "subject", variables)
    text = text_template.render(variables)
    html = environment.get_template(f"{template}.html").render(variables, subject=subject)
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
