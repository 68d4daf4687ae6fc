"""A software WebAuthn authenticator for the tests: an ES256 key, `none` attestation, user
presence and verification, a sign count it can be told to move any way."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

_UP, _UV, _AT = 0x01, 0x04, 0x40


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class SoftwareAuthenticator:
    def __init__(self, *, origin: str = "http://localhost:8000") -> None:
        self.origin = origin
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(32)
        self.sign_count = 0
        self.user_handle = b""

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**data, "crossOrigin": False}).encode()

    def _auth_data(self, rp_id: str, flags: int, extra: bytes = b"") -> bytes:
        rp_hash = hashlib.sha256(rp_id.encode()).digest()
        return rp_hash + bytes([flags]) + self.sign_count.to_bytes(4, "big") + extra

    def create(
        self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None,
        verified: bool = True,
    ) -> dict[str, Any]:  # fmt: skip
        """navigator.credentials.create() answering `options`, as PublicKeyCredential JSON."""
        self.user_handle = base64.urlsafe_b64decode(options["user"]["id"] + "==")
        attested = (
            bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id
            + self._cose_key()
        )  # fmt: skip
        flags = _UP | _AT | (_UV if verified else 0)
        auth_data = self._auth_data(rp_id or options["rp"]["id"], flags, attested)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {
            "id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
            "type": "public-key", "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        }  # fmt: skip

    def get(
        self, options: dict[str, Any], *, origin: str | None = None, sign_count: int | None = None
    ) -> dict[str, Any]:
        """navigator.credentials.get() answering `options`; the counter moves up by one unless
        `sign_count` says where it stands."""
        self.sign_count = self.sign_count + 1 if sign_count is None else sign_count
        auth_data = self._auth_data(options["rpId"], _UP | _UV)
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
            "type": "public-key", "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                "signature": b64url(signature), "userHandle": b64url(self.user_handle),
            },
            "clientExtensionResults": {},
        }  # fmt: skip
