"""API shapes of the auth endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pe_portal.schemas import CamelModel
from pe_portal.users.schemas import UserRead

# Generous outer bounds; the real rules (72 bytes, e-mail syntax) answer with named errors.
Email = Field(min_length=1, max_length=320, json_schema_extra={"format": "email"})
Password = Field(min_length=1, max_length=1024)


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
