"""API shapes for accounts (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from pe_portal.schemas import CamelModel
from pe_portal.users.service import MAX_NAME_LENGTH, NAME_PATTERN

# Trimmed by the service, which also refuses control characters (stated as the pattern).
Name = Field(default=None, max_length=MAX_NAME_LENGTH, json_schema_extra={"pattern": NAME_PATTERN})


class UserRead(CamelModel):
    id: str
    email: str
    first_name: str | None
    last_name: str | None
    is_active: bool
    is_verified: bool
    last_login: datetime | None
    created_at: datetime
    updated_at: datetime


class UserUpdate(CamelModel):
    """The names only: e-mail, activation and verification have their own flows."""

    first_name: str | None = Field(
        default=None, max_length=MAX_NAME_LENGTH, json_schema_extra={"pattern": NAME_PATTERN}
    )
    last_name: str | None = Field(
        default=None, max_length=MAX_NAME_LENGTH, json_schema_extra={"pattern": NAME_PATTERN}
    )


class AccountDelete(CamelModel):
    password: str = Field(min_length=1, max_length=1024)
