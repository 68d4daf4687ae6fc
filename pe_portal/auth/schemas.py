"""API shapes of the auth endpoints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from pe_portal.schemas import CamelModel
from pe_portal.users.schemas import UserRead

# Generous outer bounds; the real rules (72 bytes, e-mail syntax) answer with named errors.
Email = Field(min_length=1, max_length=320, json_schema_extra={"format": "email"})
Password = Field(min_length=1, max_length=1024)
MfaToken = Field(min_length=1, max_length=100)
FactorId = Field(min_length=1, max_length=64)


class RegisterRequest(CamelModel):
    email: str = Email
    password: str = Password
    first_name: str | None = Field(default=None, max_length=1000)
    last_name: str | None = Field(default=None, max_length=1000)


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
    new_password: str = Password


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


class MfaVerifyRequest(CamelModel):
    """The mfaToken and exactly one proof: `code`, `recoveryCode`, or `factorId` with the
    passkey's `credential`."""

    mfa_token: str = MfaToken
    code: str | None = Field(default=None, pattern=r"^[0-9]{6}$", min_length=6, max_length=6)
    recovery_code: str | None = Field(default=None, min_length=1, max_length=40)
    factor_id: str | None = Field(default=None, min_length=1, max_length=64)
    credential: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_proof(self) -> MfaVerifyRequest:
        passkey = self.factor_id is not None or self.credential is not None
        given = [self.code is not None, self.recovery_code is not None, passkey]
        if sum(given) != 1 or (passkey and (self.factor_id is None or self.credential is None)):
            raise ValueError(
                "send exactly one proof: code, recoveryCode, or factorId with credential"
            )
        return self
