"""What other features call: render a message for one person and queue it for delivery."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pe_portal.mail.messages import render
from pe_portal.mail.outbox import default_outbox


def send(
    template: str,
    *,
    to: str,
    language: str | None,
    timezone: str | None,
    context: Mapping[str, Any],
) -> bool:
    """Render `template` for `to` and queue it; returns at once, never raises delivery errors.

    False when the outbox had to drop the message (logged). Raises ValueError or
    jinja2.UndefinedError for a programming error (unknown template, missing context key).
    """
    outbox = default_outbox()
    message = render(
        template,
        to=to,
        language=language,
        timezone=timezone,
        context=context,
        settings=outbox.settings,
    )
    return outbox.enqueue(message)
