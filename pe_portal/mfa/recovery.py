"""Recovery codes: 10 per set, shown once, kept as keyed digests, each usable once."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SET_SIZE = 10
# No look-alikes (0/o, 1/l/i): the codes are read off paper. 10 characters: ~49 bits each.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_HALF = 5


def new_codes() -> list[str]:
    """A fresh set, formatted `xxxxx-xxxxx`."""
    return [_new_code() for _ in range(SET_SIZE)]


def _new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(2 * _HALF))
    return f"{raw[:_HALF]}-{raw[_HALF:]}"


def normalise(code: str) -> str:
    """What a person may type for a code: any case, with or without the dash or spaces."""
    return code.strip().lower().replace("-", "").replace(" ", "")


def digest(secret_key: str, code: str) -> str:
    """HMAC-SHA256 under SECRET_KEY: a stolen table (or backup) alone gives no code, and a
    lookup by digest needs no slow hash over ten rows (the codes are random, not chosen)."""
    mac = hmac.new(secret_key.encode(), f"recovery|{normalise(code)}".encode(), hashlib.sha256)
    return mac.hexdigest()
