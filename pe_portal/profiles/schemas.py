"""API shapes of the profile (camelCase on the wire); every field is validated on the way in."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, WithJsonSchema, field_validator

from pe_portal.profiles.fields import (
    MAX_AVATAR_LENGTH,
    MAX_LANGUAGE_LENGTH,
    MAX_PHONE_LENGTH,
    MAX_PREFERENCES_BYTES,
    MAX_PREFERENCES_DEPTH,
    check_avatar,
    check_preferences,
    normalise_language,
    normalise_phone,
    normalise_timezone,
    time_zones,
)
from pe_portal.schemas import CamelModel

# What the document can state of each field; `UNSTATABLE` in each description is checked by
# the validator alone (a numbering plan, the language subtag registry, a JSON object's size).
UNSTATABLE = "; beyond what a schema can state, "
Phone = Annotated[
    str,
    AfterValidator(normalise_phone),
    WithJsonSchema({
        "type": "string", "pattern": r"^\+[1-9][0-9 ().-]{5,20}$", "maxLength": MAX_PHONE_LENGTH,
        "description": "International, starting with + (stored as E.164)" + UNSTATABLE
        + "it must be a valid number of its country's numbering plan.",
    }),
]  # fmt: skip
Avatar = Annotated[
    str,
    AfterValidator(check_avatar),
    WithJsonSchema({
        "type": "string", "format": "uri", "maxLength": MAX_AVATAR_LENGTH,
        "pattern": r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s@]*)?$",
        "description": "An https URL with a host and no credentials" + UNSTATABLE
        + "its port must exist (at most 65535).",
    }),
]  # fmt: skip
TIMEZONE = WithJsonSchema({"type": "string", "enum": time_zones(), "description": "An IANA zone."})
LANGUAGE = WithJsonSchema({
    "type": "string", "maxLength": MAX_LANGUAGE_LENGTH,
    "pattern": r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$",
    "description": "A BCP 47 tag such as fr or en-GB" + UNSTATABLE
    + "its subtags must be registered.",
})  # fmt: skip
Timezone = Annotated[str, AfterValidator(normalise_timezone), TIMEZONE]
Language = Annotated[str, AfterValidator(normalise_language), LANGUAGE]
Preferences = Annotated[
    dict[str, Any],
    AfterValidator(check_preferences),
    WithJsonSchema({
        "type": "object",
        "description": f"Any JSON object{UNSTATABLE}at most {MAX_PREFERENCES_BYTES} bytes as "
        f"JSON, {MAX_PREFERENCES_DEPTH} levels deep, no NUL character, no NaN or Infinity.",
    }),
]  # fmt: skip


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
    # Optional but never null: the document shows no null branch, the validator below
    # refuses an explicit one.
    timezone: Annotated[Timezone | None, TIMEZONE] = None
    language: Annotated[Language | None, LANGUAGE] = None
    preferences: Preferences | None = None

    @field_validator("timezone", "language")
    @classmethod
    def _required_when_sent(cls, value: str | None) -> str | None:
        # Defaults are not validated, so this only sees an explicit null.
        if value is None:
            raise ValueError("cannot be null; send a value")
        return value
