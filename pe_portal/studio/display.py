"""How values are shown: times in the operator's zone, JSON as JSON, user ids as links."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import InstrumentedAttribute
from starlette.requests import Request

from pe_portal.studio.auth import operator_zone

Formatter = Callable[[Any, str, Request], Any]
INLINE_JSON_LIMIT = 60


def timestamp(model: Any, attribute: str, request: Request) -> str:
    """A stored UTC time as wall-clock time in the operator's zone, zone named."""
    value = getattr(model, attribute)
    if not isinstance(value, datetime):
        return ""
    return value.astimezone(operator_zone(request)).strftime("%Y-%m-%d %H:%M:%S %Z")


def timestamps(*columns: InstrumentedAttribute[Any]) -> dict[Any, Formatter]:
    return dict.fromkeys(columns, timestamp)


def _json(value: Any, indent: int | None) -> str:
    return json.dumps(value, indent=indent, sort_keys=True, ensure_ascii=False)


def json_inline(model: Any, attribute: str, request: Request) -> str:
    """A JSON column on one line, cut short in lists."""
    value = getattr(model, attribute)
    if value is None:
        return ""
    text = _json(value, indent=None)
    return text if len(text) <= INLINE_JSON_LIMIT else text[: INLINE_JSON_LIMIT - 1] + "…"


def json_block(model: Any, attribute: str, request: Request) -> Markup | str:
    """A JSON column in full, indented (escaped: the values are user-supplied)."""
    value = getattr(model, attribute)
    if value is None:
        return ""
    return Markup("<pre class='mb-0'>{}</pre>").format(_json(value, indent=2))


def user_link(model: Any, attribute: str, request: Request) -> Markup | str:
    """A user id as a link to that user's page."""
    user_id = getattr(model, attribute)
    if not user_id:
        return ""
    url = request.url_for("admin:details", identity="user", pk=user_id)
    return Markup("<a href='{}'>{}</a>").format(url, user_id)
