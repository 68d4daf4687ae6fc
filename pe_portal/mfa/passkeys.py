"""Passkeys (WebAuthn, py_webauthn): the relying party from PUBLIC_URL, options, verification.
User verification is required, the sign count must grow, `none` attestation is enough."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from pe_portal.config import Settings


class PasskeyRefused(ValueError):
    """A credential of the wrong shape, for another relying party or challenge, or a replay."""


@dataclass(frozen=True)
class RelyingParty:
    id: str  # PUBLIC_URL's host
    origin: str  # PUBLIC_URL's scheme, host and port
    name: str


@dataclass(frozen=True)
class NewCredential:
    credential_id: bytes
    public_key: bytes
    sign_count: int


def relying_party(settings: Settings) -> RelyingParty:
    parts = urlsplit(settings.public_url)
    return RelyingParty(
        parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}", settings.mfa_issuer
    )


def registration_options(
    rp: RelyingParty, *, user_id: str, email: str, existing: list[bytes]
) -> tuple[dict[str, Any], bytes]:
    """Creation options (as the browser's JSON) and their challenge, to keep until the reply."""
    options = generate_registration_options(
        rp_id=rp.id, rp_name=rp.name, user_id=user_id.encode(), user_name=email,
        exclude_credentials=[PublicKeyCredentialDescriptor(id=known) for known in existing],
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
    )  # fmt: skip
    return json.loads(options_to_json(options)), options.challenge


def verify_registration(
    rp: RelyingParty, *, credential: dict[str, Any], challenge: bytes
) -> NewCredential:
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin, require_user_verification=True,
        )  # fmt: skip
    except (WebAuthnException, ValueError, KeyError, TypeError) as error:
        raise PasskeyRefused(str(error)) from error
    return NewCredential(
        verified.credential_id, verified.credential_public_key, verified.sign_count
    )


def authentication_options(
    rp: RelyingParty, *, credential_id: bytes
) -> tuple[dict[str, Any], bytes]:
    """Request options for one credential, and their challenge."""
    options = generate_authentication_options(
        rp_id=rp.id,
        allow_credentials=[PublicKeyCredentialDescriptor(id=credential_id)],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return json.loads(options_to_json(options)), options.challenge


def verify_assertion(
    rp: RelyingParty,
    *,
    credential: dict[str, Any],
    challenge: bytes,
    credential_id: bytes,
    public_key: bytes,
    sign_count: int,
) -> int:
    """The authenticator's new sign count, when the assertion is genuine, fresh and for this
    credential; otherwise PasskeyRefused."""
    try:
        verified = verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin, credential_public_key=public_key,
            credential_current_sign_count=sign_count, require_user_verification=True,
        )  # fmt: skip
    except (WebAuthnException, ValueError, KeyError, TypeError) as error:
        raise PasskeyRefused(str(error)) from error
    if verified.credential_id != credential_id:
        raise PasskeyRefused("the assertion is for another credential")
    return verified.new_sign_count
