"""API shapes of the e-mail verification and password reset endpoints."""

from __future__ import annotations

from pydantic import Field

from pe_portal.auth.schemas import Email, NewPassword
from pe_portal.schemas import CamelModel

# What the mails' links carry (itsdangerous: URL-safe base64 and dots); a well-formed token that
# is not genuine is 404 `invalid_token`, an expired one 410 `token_expired`.
Token = Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z0-9_\-.]+$")


class VerifyRequest(CamelModel):
    token: str = Token


class ForgotPasswordRequest(CamelModel):
    email: str = Email


class ResetPasswordRequest(CamelModel):
    token: str = Token
    new_password: str = NewPassword


class Accepted(CamelModel):
    """The answer to a request whose outcome arrives by mail."""

    status: str = "accepted"
    message: str


class ResetPasswordResponse(CamelModel):
    sessions_revoked: int
