"""API shapes of the auth endpoints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from pe_portal.schemas import SETTING_KEYWORD, CamelModel, exactly_one_of
from pe_portal.security.passwords import MAX_PASSWORD_BYTES
from pe_portal.users.schemas import Name, UserRead
from pe_portal.users.service import MAX_EMAIL_LENGTH

Email = Field(
    min_length=1, max_length=MAX_EMAIL_LENGTH, json_schema_extra={"format": "email"},
    description="An address that can receive mail: one whose domain is reserved or special-use "
    "(`.test`, `.localhost`, `.invalid`, ...) is refused with `invalid_email`.",
)  # fmt: skip
# The byte limit is checked by the service, so that it answers `password_too_long` naming it;
# the document states the tightest honest character bound (72 characters are at least 72 bytes).
_BYTES = (
    f"At most {MAX_PASSWORD_BYTES} bytes as UTF-8 (bcrypt reads no further; a longer password "
    "is refused with `password_too_long`, never truncated)."
)
Password = Field(
    min_length=1, max_length=1024, description=_BYTES,
    json_schema_extra={"maxLength": MAX_PASSWORD_BYTES},
)  # fmt: skip
NewPassword = Field(
    min_length=1, max_length=1024,
    description=f"{_BYTES} At least PASSWORD_MIN_LENGTH characters; common or guessable "
    "passwords are refused with `password_too_common` (a rule no schema can state).",
    json_schema_extra={
        "maxLength": MAX_PASSWORD_BYTES, SETTING_KEYWORD: {"minLength": "password_min_length"}
    },
)  # fmt: skip
MfaToken = Field(min_length=1, max_length=100)
FactorId = Field(min_length=1, max_length=64)


class RegisterRequest(CamelModel):
    email: str = Email
    password: str = NewPassword
    first_name: str | None = Name
    last_name: str | None = Name


class LoginRequest(CamelModel):
    email: str = Email
    password: str = Password


class RefreshRequest(CamelModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class TokenResponse(CamelModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name
    expires_in: int
    user: UserRead


class PasswordChangeRequest(CamelModel):
    current_password: str = Password
    new_password: str = NewPassword


class PasswordChangeResponse(CamelModel):
    other_sessions_revoked: int


class LogoutAllResponse(CamelModel):
    sessions_revoked: int


class OAuthTokenResponse(CamelModel):
    """RFC 6749 §5.1: snake_case on purpose, as OAuth clients expect."""

    model_config = CamelModel.model_config | {"alias_generator": None}

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name
    expires_in: int
    refresh_token: str


class FactorSummary(CamelModel):
    id: str
    type: Literal["totp", "webauthn"]


class MfaRequiredResponse(CamelModel):
    """The password was right; complete the sign-in with POST /auth/mfa/verify."""

    mfa_required: Literal[True] = True
    mfa_token: str
    factors: list[FactorSummary]
    expires_in: int


class MfaChallengeRequest(CamelModel):
    mfa_token: str = MfaToken
    factor_id: str = FactorId


_PROOFS = (("code",), ("recovery_code",), ("factor_id", "credential"))


class MfaVerifyRequest(CamelModel):
    """The mfaToken and exactly one proof: `code`, `recoveryCode`, or `factorId` with the
    passkey's `credential` (none of them null)."""

    model_config = CamelModel.model_config | {
        "json_schema_extra": exactly_one_of(
            ("code",), ("recoveryCode",), ("factorId", "credential")
        )
    }

    mfa_token: str = MfaToken
    code: str | None = Field(default=None, pattern=r"^[0-9]{6}$", min_length=6, max_length=6)
    recovery_code: str | None = Field(default=None, min_length=1, max_length=40)
    factor_id: str | None = Field(default=None, min_length=1, max_length=64)
    credential: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_proof(self) -> MfaVerifyRequest:
        sent = self.model_fields_set - {"mfa_token"}
        proof = next((set(choice) for choice in _PROOFS if set(choice) == sent), None)
        if proof is None or any(getattr(self, name) is None for name in proof):
            raise ValueError(
                "send exactly one proof: code, recoveryCode, or factorId with credential"
            )
        return self
