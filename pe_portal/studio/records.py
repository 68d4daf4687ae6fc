"""The studio's record pages: sessions (revocable) and the audit trail (read-only)."""

from __future__ import annotations

from typing import Any, ClassVar

from sqladmin import action
from sqladmin.filters import BooleanFilter, StaticValuesFilter
from sqladmin.pagination import Pagination
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from pe_portal.audit import service as audit
from pe_portal.audit.models import (
    SEARCH_MAX_LENGTH,
    AuditAction,
    AuditLog,
    AuditResource,
    row_search_condition,
)
from pe_portal.context import RequestContext
from pe_portal.errors import NotFound
from pe_portal.sessions import service as sessions
from pe_portal.sessions.models import Session
from pe_portal.studio.base import StudioView
from pe_portal.studio.display import json_block, json_inline, timestamps, user_link


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


def _sorted_otherwise(request: Request) -> bool:
    """Sorted by anything but the newest first."""
    params = request.query_params
    if "sortBy" not in params:
        return False
    return params["sortBy"] != "created_at" or params.get("sort", "asc") != "desc"


def _filter_values(request: Request, filters: list[Any]) -> dict[str, str]:
    """Column → value of each filter the request sets ("__all" is sqladmin's "any")."""
    params = request.query_params
    return {
        f.parameter_name: params[f.parameter_name]
        for f in filters
        if params.get(f.parameter_name) not in (None, "", "__all")
    }


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
        AuditLog.details,
        AuditLog.user_id,
        AuditLog.ip_address,
    ]
    column_details_list: ClassVar[list[Any]] = [
        AuditLog.id,
        *column_list,
        AuditLog.resource,
        AuditLog.user_agent,
    ]
    column_labels: ClassVar[dict[Any, str]] = {**StudioView.column_labels, "created_at": "Time"}
    column_export_list = column_details_list
    column_searchable_list: ClassVar[list[Any]] = [
        AuditLog.user_id,
        AuditLog.ip_address,
        AuditLog.user_agent,
        AuditLog.details,
    ]

    def search_query(self, stmt: Select[Any], term: str) -> Select[Any]:
        """The same search, sorted otherwise (every match counted)."""
        return stmt.filter(row_search_condition(term[:SEARCH_MAX_LENGTH]))

    def search_placeholder(self) -> str:
        return "User id, IP, user agent or words of the details"

    def _stmt_by_identifier(self, identifier: str) -> Select[Any]:
        # The key is (id, created_at) since partitioning, and sqladmin's links join both with
        # ";"; the id alone is unique (a CUID), so a link by id (older pages, the user view's
        # "audit trail") finds the row too.
        row_id = identifier.split(";", 1)[0]
        return select(AuditLog).where(AuditLog.id == row_id)

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

    # Last in the class: below it, `list` would name this method, not the builtin.
    async def list(self, request: Request) -> Pagination:
        """A search in the default order (newest first), filtered or not, is the audit
        service's: the newest rows read in order, then the indexes. Its count is this page and
        whether more follow ("of N" counts to the next page): counting every match of a common
        term would cost what the search saves."""
        term = request.query_params.get("search")
        page = max(1, self.validate_page_number(request.query_params.get("page"), 1))
        size = self.validate_page_number(request.query_params.get("pageSize"), self.page_size)
        size = min(size, max(self.page_size_options))
        if not term or size < 1 or _sorted_otherwise(request):
            return await super().list(request)  # which also refuses a size below 1
        offset = (page - 1) * size
        equal = _filter_values(request, self.get_filters())
        async with self.session_maker(expire_on_commit=False) as session:
            found = await audit.search_rows(
                session, term=term, offset=offset, limit=size, equal=equal
            )
        count = offset + len(found.rows) + (1 if found.more else 0)
        return Pagination(rows=found.rows, page=page, page_size=size, count=count)
