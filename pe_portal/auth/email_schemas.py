"""API shapes of the e-mail verification and password reset endpoints."""

from __future__ import annotations

from pydantic import Field

from pe_portal.schemas import CamelModel

Token = Field(min_length=1, max_length=1024)


class VerifyRequest(CamelModel):
    token: str = Token


class ForgotPasswordRequest(CamelModel):
    email: str = Field(min_length=1, max_length=320)


class ResetPasswordRequest(CamelModel):
    token: str = Token
    new_password: str = Field(min_length=1, max_length=1024)


class Accepted(CamelModel):
    """The answer to a request whose outcome arrives by mail."""

    status: str = "accepted"
    message: str


class ResetPasswordResponse(CamelModel):
    sessions_revoked: int
