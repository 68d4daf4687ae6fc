"""Ed25519 signing keys on disk (JWT_KEYS_DIR), shared by every worker process and the CLI.

The newest key signs; every key still on disk verifies, so `keys rotate` never breaks tokens
already issued. A key superseded for longer than the access-token lifetime is pruned on rotate.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

# Microseconds, so that two rotations within one second still order (the newest key signs).
_KID_TIME = "%Y%m%dT%H%M%S%f"
_LEGACY_KID_TIME = "%Y%m%dT%H%M%S"  # keys written before microseconds were added


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def created(self) -> datetime:
        stamp = self.kid.split("-")[0]
        form = _KID_TIME if len(stamp) > len("20250101T000000") else _LEGACY_KID_TIME
        return datetime.strptime(stamp, form).replace(tzinfo=UTC)


def _new_kid(now: datetime) -> str:
    return f"{now.strftime(_KID_TIME)}-{secrets.token_hex(4)}"


def _write_key(directory: Path, key: SigningKey) -> None:
    pem = key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Written aside, then renamed: another process never reads a half-written key as "no key".
    partial = directory / f".{key.kid}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    partial.rename(directory / f"{key.kid}.pem")


def _read_key(path: Path) -> SigningKey | None:
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    if not isinstance(private, Ed25519PrivateKey):
        return None
    return SigningKey(kid=path.stem, private=private)


class KeyRing:
    """The keys in one directory, cached in memory and re-read when the directory changes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._keys: dict[str, SigningKey] = {}
        self._stamp: float | None = None

    def _load(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Stamp before listing: a key written meanwhile changes the stamp and is read next time.
        self._stamp = self.directory.stat().st_mtime
        keys = (_read_key(path) for path in sorted(self.directory.glob("*.pem")))
        self._keys = {key.kid: key for key in keys if key is not None}

    def _refresh_if_changed(self) -> None:
        try:
            stamp = self.directory.stat().st_mtime
        except FileNotFoundError:
            stamp = None
        if self._stamp is None or stamp != self._stamp:
            self._load()

    def signing_key(self) -> SigningKey:
        """The newest key; the first one is created on first use."""
        self._refresh_if_changed()
        if not self._keys:
            self.rotate(datetime.now(UTC))
        return self._keys[max(self._keys)]

    def verification_key(self, kid: str) -> Ed25519PublicKey | None:
        key = self._keys.get(kid)
        if key is None:
            # Rotated by another process since we last looked? A stat is cheap; re-reading the
            # directory happens only when it changed, so unknown kids cannot force reads.
            self._refresh_if_changed()
            key = self._keys.get(kid)
        return key.public if key else None

    def rotate(self, now: datetime, *, retire_after_seconds: int | None = None) -> SigningKey:
        """Add a new signing key; prune keys superseded for longer than `retire_after_seconds`."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = SigningKey(kid=_new_kid(now), private=Ed25519PrivateKey.generate())
        _write_key(self.directory, key)
        self._load()
        if retire_after_seconds is not None:
            self._prune(now, retire_after_seconds)
        return key

    def _prune(self, now: datetime, retire_after_seconds: int) -> None:
        for older, successor in itertools.pairwise(self.all_keys()):
            if (now - successor.created).total_seconds() > retire_after_seconds:
                (self.directory / f"{older.kid}.pem").unlink(missing_ok=True)
        self._load()

    def all_keys(self) -> list[SigningKey]:
        """Every key on disk, oldest first (the last one signs)."""
        self._refresh_if_changed()
        return sorted(self._keys.values(), key=lambda k: k.kid)

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWK Set (RFC 7517)."""
        if not self.all_keys():
            self.signing_key()
        return {"keys": [self._jwk(key) for key in self.all_keys()]}

    @staticmethod
    def _jwk(key: SigningKey) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(key.public))
        return {**jwk, "kid": key.kid, "use": "sig", "alg": "EdDSA"}
