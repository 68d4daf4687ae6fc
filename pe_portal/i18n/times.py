"""Times as a person reads them: in their own zone, named, with its offset."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pe_portal.i18n.languages import LANGUAGES


def resolve_zone(timezone: str | None) -> ZoneInfo:
    """The person's IANA zone; UTC when unset or unknown (profiles are validated upstream)."""
    try:
        return ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_datetime(value: datetime, *, zone: ZoneInfo, language: str) -> str:
    """`2025-01-09 13:30 Europe/Paris (UTC+01:00)`: date, time, zone name and UTC offset.

    The same ISO 8601 order in every language, as the mails have always shown it: it cannot be
    misread (09/01 or 01/09) and needs no translation. `language` must be one of LANGUAGES; it
    is taken so that a locale-aware form can come later without changing the callers. Naive
    values are UTC (as read from the database).
    """
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(zone)
    if zone.key == "UTC":
        return f"{local:%Y-%m-%d %H:%M} UTC"
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {zone.key} (UTC{offset[:3]}:{offset[3:]})"
