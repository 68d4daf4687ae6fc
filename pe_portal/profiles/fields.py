"""Validation and normalisation of profile fields; each raises ValueError with a readable reason."""

from __future__ import annotations

import json
import math
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

import langcodes
import phonenumbers
from langcodes.tag_parser import LanguageTagError

MAX_PHONE_LENGTH = 64
MAX_AVATAR_LENGTH = 2048
MAX_LANGUAGE_LENGTH = 35  # RFC 5646 §4.4.1: 35 characters hold any tag worth storing
MAX_PREFERENCES_BYTES = 16 * 1024
MAX_PREFERENCES_DEPTH = 8
# In the zone database but not places: the host's own zone and a placeholder.
_NOT_PLACES = frozenset({"localtime", "Factory"})


def check_text(value: str) -> str:
    """Text PostgreSQL can store: no NUL, no lone surrogates (JSON allows both)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError("must be valid Unicode (lone surrogate)") from error
    return value


def normalise_phone(value: str) -> str:
    """Any common way of writing an international number, stored as E.164 (`+33123456789`)."""
    check_text(value)
    if len(value) > MAX_PHONE_LENGTH:
        raise ValueError(f"must be at most {MAX_PHONE_LENGTH} characters")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as error:
        raise ValueError("must be an international phone number starting with +") from error
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_avatar(value: str) -> str:
    """An absolute `https` URL to an image host: no other scheme, no credentials, no spaces."""
    check_text(value)
    if len(value) > MAX_AVATAR_LENGTH:
        raise ValueError(f"must be at most {MAX_AVATAR_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError as error:
        raise ValueError("must be a valid URL") from error
    if parts.scheme.lower() != "https" or not host:
        raise ValueError("must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain credentials")
    return value


@cache
def _zones() -> dict[str, str]:
    # The pinned `tzdata` package's list rather than the host's zone files: the same zones on
    # every machine, and so the same API document (which enumerates them).
    names = set(files("tzdata").joinpath("zones").read_text().split()) - _NOT_PLACES
    return {name.lower(): name for name in names}


def time_zones() -> list[str]:
    """Every zone a profile may name, canonically spelled."""
    return sorted(_zones().values())


def normalise_timezone(value: str) -> str:
    """An IANA zone name, in its canonical spelling (`europe/paris` → `Europe/Paris`)."""
    canonical = _zones().get(check_text(value).strip().lower())
    if canonical is None:
        raise ValueError("must be an IANA time zone name such as Europe/Paris")
    return canonical


def normalise_language(value: str) -> str:
    """A well-formed, valid BCP 47 tag in its standard form (`en-gb` → `en-GB`)."""
    tag = check_text(value).strip()
    if len(tag) > MAX_LANGUAGE_LENGTH:
        raise ValueError(f"must be at most {MAX_LANGUAGE_LENGTH} characters")
    try:
        if not langcodes.tag_is_valid(tag):
            raise ValueError("is not a valid BCP 47 language tag")
        return str(langcodes.standardize_tag(tag))
    except LanguageTagError as error:
        raise ValueError("is not a valid BCP 47 language tag") from error


def check_preferences(value: dict[str, Any]) -> dict[str, Any]:
    """A JSON object, at most MAX_PREFERENCES_DEPTH deep and MAX_PREFERENCES_BYTES serialised."""
    _check_node(value, depth=1)
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_PREFERENCES_BYTES:
        raise ValueError(f"must be at most {MAX_PREFERENCES_BYTES} bytes as JSON (got {size})")
    return value


def _check_node(node: object, *, depth: int) -> None:
    """`depth` counts the objects and arrays around `node`, `node` included."""
    if isinstance(node, dict | list) and depth > MAX_PREFERENCES_DEPTH:
        raise ValueError(f"must be nested at most {MAX_PREFERENCES_DEPTH} levels deep")
    if isinstance(node, dict):
        for key, item in node.items():
            check_text(key)
            _check_node(item, depth=depth + 1)
    elif isinstance(node, list):
        for item in node:
            _check_node(item, depth=depth + 1)
    elif isinstance(node, str):
        check_text(node)
    elif isinstance(node, float) and not math.isfinite(node):
        raise ValueError("must not contain NaN or Infinity")
