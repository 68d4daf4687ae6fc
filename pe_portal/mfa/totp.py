"""TOTP (RFC 6238): SHA-1, 6 digits, 30-second steps; a code of the current step or one step
either side is accepted, and the caller refuses a step already used (RFC 6238 §5.2)."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp
import segno

STEP_SECONDS = 30
DIGITS = 6
_DRIFT_STEPS = (-1, 0, 1)


def new_secret() -> str:
    """A random base32 seed of 160 bits (RFC 4226 §4's recommended length)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The `otpauth://totp/...` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The URI as an SVG QR code (a standalone document, no external reference)."""
    svg: str = segno.make(uri, error="m").svg_inline(scale=4, border=2)
    return svg


def qr_data_uri(uri: str) -> str:
    """The same QR code as a standalone SVG `data:` URI, for an <img> (a page's CSP allows
    `img-src data:`, not the inline markup's styles)."""
    data: str = segno.make(uri, error="m").svg_data_uri(scale=4, border=2)
    return data


def step_of(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int, *, digits: int = DIGITS) -> str:
    return pyotp.TOTP(secret, digits=digits, interval=STEP_SECONDS).generate_otp(step)


def matching_step(secret: str, code: str, *, now: datetime) -> int | None:
    """The time step `code` belongs to (now, or one step either side), or None. Every candidate
    is compared, in constant time, whichever matches."""
    current = step_of(now)
    found = None
    for offset in _DRIFT_STEPS:
        step = current + offset
        if hmac.compare_digest(code_at(secret, step).encode(), code.encode()):
            found = step
    return found
