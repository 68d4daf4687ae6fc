"""The Ed25519 keys that sign audit checkpoints, in AUDIT_SEAL_KEY_DIR, never in the database.

`<key id>.pem` is a private key (the newest signs); `<key id>.pub` a public key that only
verifies (keep one beside an exported trail, or after moving the private key offline). The key
id is the first 16 hex digits of the SHA-256 of the raw public key.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pe_portal.errors import InvalidInput


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass(frozen=True)
class SealKeys:
    signer: Ed25519PrivateKey | None
    public: dict[str, Ed25519PublicKey]

    @property
    def signer_id(self) -> str:
        if self.signer is None:
            raise InvalidInput("No private seal key in AUDIT_SEAL_KEY_DIR.", code="no_seal_key")
        return key_id(self.signer.public_key())

    def sign(self, digest: bytes) -> bytes:
        if self.signer is None:
            raise InvalidInput("No private seal key in AUDIT_SEAL_KEY_DIR.", code="no_seal_key")
        return self.signer.sign(digest)

    def verifies(self, kid: str, digest: bytes, signature: bytes) -> bool | None:
        """True/False; None when no key of that id is known."""
        public = self.public.get(kid)
        if public is None:
            return None
        try:
            public.verify(signature, digest)
        except InvalidSignature:
            return False
        return True


def load(directory: Path, *, create: bool = False) -> SealKeys:
    """The keys in `directory`; with `create`, a first private key is made when there is none.
    A file that is not an Ed25519 key is an error naming it, not silently skipped."""
    if create:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    private: list[tuple[float, Ed25519PrivateKey]] = []
    public: dict[str, Ed25519PublicKey] = {}
    paths = (
        sorted(directory.glob("*.pem")) + sorted(directory.glob("*.pub"))
        if directory.is_dir()
        else []
    )
    for path in paths:
        try:
            data = path.read_bytes()
            key = (
                serialization.load_pem_private_key(data, password=None)
                if path.suffix == ".pem"
                else serialization.load_pem_public_key(data)
            )
        except (OSError, ValueError, TypeError) as error:
            raise InvalidInput(
                f"{path} is not a readable PEM key; move it out of the seal key directory.",
                code="bad_seal_key",
            ) from error
        if isinstance(key, Ed25519PrivateKey):
            private.append((path.stat().st_mtime, key))
            public[key_id(key.public_key())] = key.public_key()
        elif isinstance(key, Ed25519PublicKey):
            public[key_id(key)] = key
        else:
            raise InvalidInput(f"{path} is not an Ed25519 key.", code="bad_seal_key")
    if not private and create:
        key = Ed25519PrivateKey.generate()
        _write(directory, key)
        private.append((0.0, key))
        public[key_id(key.public_key())] = key.public_key()
    signer = max(private, key=lambda item: item[0])[1] if private else None
    return SealKeys(signer=signer, public=public)


def _write(directory: Path, key: Ed25519PrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    kid = key_id(key.public_key())
    partial = directory / f".{kid}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        os.fsync(handle.fileno())
    partial.rename(directory / f"{kid}.pem")
    (directory / f"{kid}.pub").write_text(public_pem(key.public_key()))
