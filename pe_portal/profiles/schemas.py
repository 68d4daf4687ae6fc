"""API shapes of the profile (camelCase on the wire); every field is validated on the way in."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, field_validator

from pe_portal.profiles.fields import (
    check_avatar,
    check_preferences,
    normalise_language,
    normalise_phone,
    normalise_timezone,
)
from pe_portal.schemas import CamelModel

Phone = Annotated[str, AfterValidator(normalise_phone)]
Avatar = Annotated[str, AfterValidator(check_avatar)]
Timezone = Annotated[str, AfterValidator(normalise_timezone)]
Language = Annotated[str, AfterValidator(normalise_language)]
Preferences = Annotated[dict[str, Any], AfterValidator(check_preferences)]


class ProfileRead(CamelModel):
    phone: str | None
    avatar: str | None
    timezone: str
    language: str
    preferences: dict[str, Any] | None


class ProfileUpdate(CamelModel):
    """Only the fields sent change; null clears phone, avatar and preferences."""

    phone: Phone | None = None
    avatar: Avatar | None = None
    timezone: Timezone | None = None
    language: Language | None = None
    preferences: Preferences | None = None

    @field_validator("timezone", "language")
    @classmethod
    def _required_when_sent(cls, value: str | None) -> str | None:
        # Defaults are not validated, so this only sees an explicit null.
        if value is None:
            raise ValueError("cannot be null; send a value")
        return value
