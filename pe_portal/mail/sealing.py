"""Bodies at rest: a queued message holds a sign-in link, so the database (and every dump,
backup or studio page that reads it) holds only AES-GCM ciphertext. The key is derived from
SECRET_KEY, which lives outside the database; only a process configured with it (the app's
delivery worker) can read a body back."""

from __future__ import annotations

import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12


class UnreadableBody(Exception):
    """The body was sealed with another key (SECRET_KEY changed) or was altered."""


@lru_cache(maxsize=4)
def _cipher(secret_key: str) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"pe-portal mail outbox body"
    ).derive(secret_key.encode())
    return AESGCM(key)


def seal(data: bytes, *, secret_key: str, row_id: str) -> bytes:
    """Nonce + ciphertext; bound to `row_id`, so a body moved to another row does not open."""
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + _cipher(secret_key).encrypt(nonce, data, row_id.encode())


def unseal(sealed: bytes, *, secret_key: str, row_id: str) -> bytes:
    """The message bytes; UnreadableBody when the key or the row does not match."""
    nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    try:
        return _cipher(secret_key).decrypt(nonce, ciphertext, row_id.encode())
    except InvalidTag as error:
        raise UnreadableBody("sealed with another SECRET_KEY, or altered") from error
