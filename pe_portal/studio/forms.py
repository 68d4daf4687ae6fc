"""Edits from the studio's forms, validated as the API validates them, saved by the services."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqladmin.fields import JSONField
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.context import RequestContext
from pe_portal.errors import InvalidInput, NotFound
from pe_portal.profiles import service as profiles
from pe_portal.profiles.models import UserProfile
from pe_portal.profiles.schemas import ProfileUpdate
from pe_portal.users import service as users
from pe_portal.users.models import User


class OptionalJSONField(JSONField):
    """sqladmin's JSON field shows an empty value as `{}`, so saving the form unchanged would
    turn "no preferences" into an empty object; this one shows it empty."""

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return "" if self.data is None else json.dumps(self.data, ensure_ascii=False, indent=2)


def _blank_is_none(data: Mapping[str, Any]) -> dict[str, Any]:
    return {name: None if value == "" else value for name, value in data.items()}


def _readable(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
        for problem in error.errors()
    )


async def update_names(
    session: AsyncSession, *, user_id: str, data: Mapping[str, Any], context: RequestContext
) -> User:
    """First and last name (blank clears), through the same service as `PATCH /users/me`."""
    user = await users.get(session, user_id=user_id)
    return await users.update_names(
        session, user=user, changes=_blank_is_none(data), context=context
    )


async def update_profile(
    session: AsyncSession, *, profile_id: str, data: Mapping[str, Any], context: RequestContext
) -> UserProfile:
    """Profile fields, validated by the API's own schema, through the profiles service."""
    profile = await session.get(UserProfile, profile_id)
    if profile is None:
        raise NotFound("No such profile.", code="profile_not_found")
    try:
        changes = ProfileUpdate.model_validate(_blank_is_none(data))
    except ValidationError as error:
        raise InvalidInput(_readable(error), code="invalid_profile") from error
    return await profiles.update(
        session,
        user_id=profile.user_id,
        changes=changes.model_dump(exclude_unset=True),
        context=context,
    )
