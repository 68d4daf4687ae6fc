"""The studio's pages: users, profiles, sessions and the (read-only) audit trail."""

from __future__ import annotations

from typing import Any, ClassVar

from markupsafe import Markup
from sqladmin import action
from sqladmin.filters import BooleanFilter, StaticValuesFilter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from pe_portal.audit.models import AuditAction, AuditLog, AuditResource
from pe_portal.audit.service import RequestContext
from pe_portal.errors import NotFound
from pe_portal.profiles.models import UserProfile
from pe_portal.sessions import service as sessions
from pe_portal.sessions.models import Session
from pe_portal.studio.base import StudioView
from pe_portal.studio.display import json_block, json_inline, timestamps, user_link
from pe_portal.users import service as users
from pe_portal.users.models import User


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


def _set_active(active: bool) -> Any:
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


class SessionAdmin(StudioView, model=Session):
    name, name_plural, icon = "Session", "Sessions", "fa-solid fa-key"
    secret_columns = (Session.refresh_token,)
    column_list: ClassVar[list[Any]] = [
        Session.id,
        Session.user_id,
        Session.is_revoked,
        Session.user_agent,
        Session.ip_address,
        Session.created_at,
        Session.updated_at,
        Session.expires_at,
    ]
    column_details_list = column_list
    column_export_list = column_list
    column_searchable_list: ClassVar[list[Any]] = [
        Session.user_id,
        Session.ip_address,
        Session.user_agent,
    ]
    column_sortable_list: ClassVar[list[Any]] = [
        Session.created_at,
        Session.updated_at,
        Session.expires_at,
        Session.is_revoked,
    ]
    column_default_sort = (Session.created_at, True)
    column_filters: ClassVar[list[Any]] = [BooleanFilter(Session.is_revoked, title="Revoked")]
    column_formatters: ClassVar[dict[Any, Any]] = {
        Session.user_id: user_link,
        **timestamps(Session.created_at, Session.updated_at, Session.expires_at),
    }
    column_formatters_detail = column_formatters

    @action(name="revoke", label="Revoke", confirmation_message="Revoke? The device is signed out.")
    async def revoke(self, request: Request) -> Response:
        return await self.apply(request, _revoke, "Revoked {count} session(s).")


async def _revoke(session: AsyncSession, session_id: str, context: RequestContext) -> None:
    row = await session.get(Session, session_id)
    if row is None:
        raise NotFound("No such session.", code="session_not_found")
    await sessions.revoke(session, user_id=row.user_id, session_id=session_id, context=context)


class AuditLogAdmin(StudioView, model=AuditLog):
    """Append-only: no create, edit or delete here (nor any grant for them to the app role)."""

    name, name_plural, icon = "Audit log", "Audit logs", "fa-solid fa-list-check"
    column_list: ClassVar[list[Any]] = [
        AuditLog.created_at,
        AuditLog.action,
        AuditLog.resource,
        AuditLog.user_id,
        AuditLog.details,
        AuditLog.ip_address,
    ]
    column_details_list: ClassVar[list[Any]] = [
        AuditLog.id,
        *column_list,
        AuditLog.user_agent,
    ]
    column_export_list = column_details_list
    column_searchable_list: ClassVar[list[Any]] = [AuditLog.user_id, AuditLog.ip_address]
    column_sortable_list: ClassVar[list[Any]] = [AuditLog.created_at, AuditLog.action]
    column_default_sort = (AuditLog.created_at, True)
    column_filters: ClassVar[list[Any]] = [
        StaticValuesFilter(AuditLog.action, [(a.value, a.value) for a in AuditAction]),
        StaticValuesFilter(AuditLog.resource, [(r.value, r.value) for r in AuditResource]),
    ]
    column_formatters: ClassVar[dict[Any, Any]] = {
        AuditLog.user_id: user_link,
        AuditLog.details: json_inline,
        **timestamps(AuditLog.created_at),
    }
    column_formatters_detail: ClassVar[dict[Any, Any]] = {
        **column_formatters,
        AuditLog.details: json_block,
    }


VIEWS = (UserAdmin, ProfileAdmin, SessionAdmin, AuditLogAdmin)
