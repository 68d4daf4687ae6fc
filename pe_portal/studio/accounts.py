"""The studio's account pages: users and their profiles, edited through the services."""

from __future__ import annotations

from typing import Any, ClassVar

from markupsafe import Markup
from sqladmin import Flash, action
from sqladmin.filters import BooleanFilter
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from wtforms import StringField  # type: ignore[import-untyped]  # no stubs published

from pe_portal.audit.models import SEARCH_MAX_LENGTH
from pe_portal.context import RequestContext
from pe_portal.profiles.models import UserProfile
from pe_portal.studio import forms
from pe_portal.studio.auth import operator_context
from pe_portal.studio.base import Change, StudioView
from pe_portal.studio.display import json_block, json_inline, timestamps, user_link
from pe_portal.studio.factors import reset_factors
from pe_portal.users import service as users
from pe_portal.users.models import User
from pe_portal.users.models import search_condition as user_search


def _user_id_with_links(model: Any, attribute: str, request: Request) -> Markup:
    """A user's id, with links to their sessions and audit trail."""
    user_id = getattr(model, attribute)
    sessions_url = request.url_for("admin:list", identity="session").include_query_params(
        search=user_id
    )
    trail_url = request.url_for("admin:list", identity="audit-log").include_query_params(
        search=user_id
    )
    return Markup("{} · <a href='{}'>sessions</a> · <a href='{}'>audit trail</a>").format(
        user_id, sessions_url, trail_url
    )


class UserAdmin(StudioView, model=User):
    name, name_plural, icon = "User", "Users", "fa-solid fa-user"
    secret_columns = (User.password,)
    column_list: ClassVar[list[Any]] = [
        User.email,
        User.first_name,
        User.last_name,
        User.is_active,
        User.is_verified,
        User.last_login,
        User.created_at,
    ]
    column_details_list: ClassVar[list[Any]] = [User.id, *column_list, User.updated_at]
    column_export_list: ClassVar[list[Any]] = column_details_list
    column_searchable_list: ClassVar[list[Any]] = [User.email, User.first_name, User.last_name]

    def search_query(self, stmt: Select[Any], term: str) -> Select[Any]:
        """Name or e-mail fragments, typo-tolerant (pg_trgm, idx_users_search_trgm)."""
        return stmt.filter(user_search(term[:SEARCH_MAX_LENGTH]))

    def search_placeholder(self) -> str:
        return "Name or e-mail (typos forgiven)"

    column_sortable_list: ClassVar[list[Any]] = column_list
    column_default_sort = (User.created_at, True)
    column_filters: ClassVar[list[Any]] = [
        BooleanFilter(User.is_active, title="Active"),
        BooleanFilter(User.is_verified, title="Verified"),
    ]
    column_formatters: ClassVar[dict[Any, Any]] = timestamps(
        User.last_login, User.created_at, User.updated_at
    )
    column_formatters_detail: ClassVar[dict[Any, Any]] = {
        **column_formatters,
        User.id: _user_id_with_links,
    }
    can_edit = True
    form_columns: ClassVar[list[Any]] = [User.first_name, User.last_name]
    # One-line inputs (sqladmin shows TEXT columns as text areas).
    form_overrides: ClassVar[dict[str, Any]] = dict.fromkeys(
        ("first_name", "last_name"), StringField
    )

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        async with self.unit_of_work() as session:
            user = await forms.update_names(
                session, user_id=pk, data=data, context=operator_context(request)
            )
        Flash.success(request, f"Saved {user.email}.")
        return user

    @action(
        name="deactivate",
        label="Deactivate",
        confirmation_message="Deactivate? They are signed out everywhere at once.",
    )
    async def deactivate(self, request: Request) -> Response:
        return await self.apply(request, _set_active(False), "Deactivated {count} user(s).")

    @action(name="activate", label="Activate", confirmation_message="Activate?")
    async def activate(self, request: Request) -> Response:
        return await self.apply(request, _set_active(True), "Activated {count} user(s).")

    @action(
        name="reset-mfa",
        label="Reset second factor",
        confirmation_message="Remove every second factor and recovery code? The user is mailed.",
    )
    async def reset_mfa(self, request: Request) -> Response:
        return await self.apply(
            request, reset_factors, "Reset the second factor of {count} user(s)."
        )


def _set_active(active: bool) -> Change:
    async def change(session: AsyncSession, user_id: str, context: RequestContext) -> object:
        return await users.set_active(session, user_id=user_id, active=active, context=context)

    return change


class ProfileAdmin(StudioView, model=UserProfile):
    name, name_plural, icon = "Profile", "Profiles", "fa-solid fa-id-card"
    column_list: ClassVar[list[Any]] = [
        UserProfile.user_id,
        UserProfile.phone,
        UserProfile.timezone,
        UserProfile.language,
        UserProfile.preferences,
    ]
    column_details_list: ClassVar[list[Any]] = [UserProfile.id, *column_list, UserProfile.avatar]
    column_searchable_list: ClassVar[list[Any]] = ["user.email", UserProfile.phone]
    column_sortable_list: ClassVar[list[Any]] = [UserProfile.timezone, UserProfile.language]
    column_formatters: ClassVar[dict[Any, Any]] = {
        UserProfile.user_id: user_link,
        UserProfile.preferences: json_inline,
    }
    column_formatters_detail: ClassVar[dict[Any, Any]] = {
        UserProfile.user_id: user_link,
        UserProfile.preferences: json_block,
    }
    can_edit = True
    form_columns: ClassVar[list[Any]] = [
        UserProfile.phone,
        UserProfile.avatar,
        UserProfile.timezone,
        UserProfile.language,
        UserProfile.preferences,
    ]
    form_overrides: ClassVar[dict[str, Any]] = {
        **dict.fromkeys(("phone", "avatar", "timezone", "language"), StringField),
        "preferences": forms.OptionalJSONField,
    }

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        async with self.unit_of_work() as session:
            profile = await forms.update_profile(
                session, profile_id=pk, data=data, context=operator_context(request)
            )
        Flash.success(request, "Saved the profile.")
        return profile
