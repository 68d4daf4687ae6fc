"""API shapes of the second factor's endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from pe_portal.schemas import CamelModel

# A TOTP code as typed: exactly 6 ASCII digits (anything else is refused before any lookup).
TotpCode = Field(pattern=r"^[0-9]{6}$", min_length=6, max_length=6, examples=["123456"])
FactorName = Field(min_length=1, max_length=64)
FactorId = Field(min_length=1, max_length=64)
# A browser's PublicKeyCredential as JSON (WebAuthn Level 3 toJSON()); py_webauthn checks it.
Credential = Field(
    json_schema_extra={
        "description": "PublicKeyCredential.toJSON() from the browser. Beyond what a schema can "
        "state, it must be a genuine, signed answer to this account's pending challenge for "
        "this relying party: otherwise 422 (registration) or 401 (sign-in) `invalid_passkey`."
    }
)


class FactorRead(CamelModel):
    id: str
    type: Literal["totp", "webauthn"]
    name: str
    created_at: datetime
    last_used_at: datetime | None


class TotpStartRequest(CamelModel):
    name: str = Field(default="Authenticator app", min_length=1, max_length=64)


class TotpEnrolmentRead(CamelModel):
    factor_id: str
    secret: str
    otpauth_uri: str
    qr_svg: str


class CodeRequest(CamelModel):
    code: str = TotpCode


class EnrolledRead(CamelModel):
    factor: FactorRead
    recovery_codes: list[str] | None = Field(
        description="Shown once; present only when this is the account's first factor."
    )


class PasskeyRegisterRequest(CamelModel):
    credential: dict[str, Any] = Credential
    name: str = Field(default="Passkey", min_length=1, max_length=64)


class RecoveryCodesRead(CamelModel):
    recovery_codes: list[str]
