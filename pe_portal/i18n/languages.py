"""Which of our languages a person gets: from a profile's BCP 47 tag or an Accept-Language value."""

from __future__ import annotations

import math
import re

LANGUAGES: tuple[str, ...] = ("en", "fr", "de")
DEFAULT_LANGUAGE = "en"

# A language range as RFC 4647 reads it, with `_` tolerated (`de_AT`, as POSIX locales spell it).
_TAG = re.compile(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*")


def negotiate(*preferences: str | None) -> str:
    """The first supported language among the preferences, in order; else English.

    Each preference is a BCP 47 tag ("fr-CH" gives "fr") or an Accept-Language value, whose
    ranges are taken by q-value ("de-DE,de;q=0.9,en;q=0.8" gives "de"). None, empty and
    malformed preferences or ranges are skipped, and so are `*` and q=0.
    """
    for preference in preferences:
        for tag in _ranked(preference or ""):
            primary = tag.replace("_", "-").split("-")[0].lower()
            if primary in LANGUAGES:
                return primary
    return DEFAULT_LANGUAGE


def _ranked(preference: str) -> list[str]:
    """The well-formed ranges of one preference, highest q first (ties keep their order)."""
    weighted: list[tuple[float, str]] = []
    for item in preference.split(","):
        tag, *parameters = (part.strip() for part in item.split(";"))
        quality = _quality(parameters)
        if _TAG.fullmatch(tag) and quality > 0:
            weighted.append((quality, tag))
    weighted.sort(key=lambda pair: -pair[0])  # sort() is stable
    return [tag for _, tag in weighted]


def _quality(parameters: list[str]) -> float:
    """The q-value among a range's parameters: 1 when absent, 0 (skip) when malformed."""
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return 0.0
            return quality if math.isfinite(quality) and 0 <= quality <= 1 else 0.0
    return 1.0
