"""Secrets at rest (TOTP seeds): AES-256-GCM under MFA_ENCRYPTION_KEY, the key id kept with the
ciphertext so that the key can rotate (`pe-portal keys rotate-mfa` re-encrypts under the first).

Stored form: `<kid>.<base64url(nonce | ciphertext+tag)>`. The associated data binds a ciphertext
to its row (the factor id): a sealed value copied onto another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pe_portal.config import DEVELOPMENT_SECRET, Settings

_KID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_NONCE_BYTES = 12
# Outside production a key derived from a fixed string, so development and tests need no setup;
# production refuses to start without MFA_ENCRYPTION_KEY (config.py).
_DEVELOPMENT_KID = "dev"


class SecretBoxError(ValueError):
    """A key setting that cannot be used, or a stored value that does not open."""


@dataclass(frozen=True)
class SecretBox:
    """Seals with the first key, opens with any key it holds."""

    keys: dict[str, AESGCM]
    current: str

    def seal(self, plaintext: bytes, *, bound_to: str) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self.keys[self.current].encrypt(nonce, plaintext, bound_to.encode())
        return f"{self.current}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, stored: str, *, bound_to: str) -> bytes:
        kid, _, body = stored.partition(".")
        key = self.keys.get(kid)
        if key is None:
            raise SecretBoxError(f"no MFA_ENCRYPTION_KEY with id {kid!r} is configured")
        try:
            raw = base64.urlsafe_b64decode(body)
            return key.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], bound_to.encode())
        except (InvalidTag, binascii.Error, ValueError) as error:
            raise SecretBoxError("a stored secret does not open with its key") from error

    def is_current(self, stored: str) -> bool:
        """True when `stored` was sealed under the key that seals now."""
        return stored.partition(".")[0] == self.current


def _parse_key(entry: str) -> tuple[str, AESGCM]:
    kid, _, encoded = entry.strip().partition(":")
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError) as error:
        raise SecretBoxError(f"MFA_ENCRYPTION_KEY {kid!r} is not base64url") from error
    if not _KID.fullmatch(kid) or len(raw) != 32:
        raise SecretBoxError("each MFA_ENCRYPTION_KEY entry is kid:base64url(32 bytes)")
    return kid, AESGCM(raw)


def secret_box(settings: Settings) -> SecretBox:
    """The box the settings describe (SecretBoxError for a malformed key setting)."""
    return _box(settings.mfa_encryption_key)


@lru_cache(maxsize=8)
def _box(setting: str | None) -> SecretBox:
    if not setting:
        derived = hashlib.sha256(f"mfa|{DEVELOPMENT_SECRET}".encode()).digest()
        return SecretBox({_DEVELOPMENT_KID: AESGCM(derived)}, _DEVELOPMENT_KID)
    parsed = [_parse_key(entry) for entry in setting.split(",") if entry.strip()]
    if not parsed:
        raise SecretBoxError("MFA_ENCRYPTION_KEY holds no key")
    return SecretBox(dict(parsed), parsed[0][0])


def new_key(kid: str) -> str:
    """A fresh `kid:base64url(32 bytes)` entry for MFA_ENCRYPTION_KEY."""
    return f"{kid}:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip('=')}"
