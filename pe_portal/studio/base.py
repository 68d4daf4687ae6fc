"""What every studio view shares: secrets never loaded, changes only through audited services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar, cast

from sqladmin import Flash, ModelView
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute, defer
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pe_portal.context import RequestContext
from pe_portal.errors import Forbidden, PortalError
from pe_portal.studio.auth import operator_context

# One row's change through a service: (transaction, primary key, who did it).
Change = Callable[[AsyncSession, str, RequestContext], Awaitable[object]]


class StudioView(ModelView):
    """Browsing comes from sqladmin; every change is a service call in one transaction, so the
    change and its audit row (the operator as actor) commit together. sqladmin's own create,
    edit and delete, which would save the ORM object unaudited, are off unless a view routes
    them to a service."""

    can_create = False
    can_edit = False
    can_delete = False
    can_import = False
    page_size = 25
    # sqladmin builds an export in memory; the audit trail can hold millions of rows.
    export_max_rows = 10_000
    column_labels: ClassVar[dict[Any, str]] = {
        "id": "ID",
        "email": "E-mail",
        "first_name": "First name",
        "last_name": "Last name",
        "is_active": "Active",
        "is_verified": "Verified",
        "last_login": "Last login",
        "created_at": "Created",
        "updated_at": "Updated",
        "expires_at": "Expires",
        "is_revoked": "Revoked",
        "user_id": "User",
        "user.email": "User e-mail",
        "user_agent": "Device (user agent)",
        "ip_address": "IP address",
        "timezone": "Time zone",
        "language": "Language",
        "phone": "Phone",
        "avatar": "Avatar",
        "preferences": "Preferences",
        "action": "Action",
        "resource": "Resource",
        "details": "Details",
    }
    page_size_options: ClassVar[list[int]] = [25, 50, 100]
    # Never loaded: deferred with raiseload, so a page that tried to show one fails loudly
    # instead of leaking it.
    secret_columns: ClassVar[tuple[InstrumentedAttribute[Any], ...]] = ()

    def _without_secrets(self, statement: Select[Any]) -> Select[Any]:
        return statement.options(*(defer(c, raiseload=True) for c in self.secret_columns))

    def list_query(self, request: Request) -> Select[Any]:
        return self._without_secrets(super().list_query(request))

    def details_query(self, request: Request) -> Select[Any]:
        return self._without_secrets(super().details_query(request))

    def form_edit_query(self, request: Request) -> Select[Any]:
        return self._without_secrets(super().form_edit_query(request))

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block succeeds, rolled back when it raises."""
        maker = cast("async_sessionmaker[AsyncSession]", self.session_maker)
        # sqladmin configures its sessions without autoflush; the services expect the default.
        async with maker(autoflush=True) as session, session.begin():
            yield session

    async def apply(self, request: Request, change: Change, done: str) -> Response:
        """Run `change` on every selected row in one transaction; tell the operator how it went."""
        pks = [pk for pk in request.query_params.get("pks", "").split(",") if pk]
        if not pks:
            Flash.warning(request, "Select at least one row first.")
            return RedirectResponse(self._back(request), status_code=302)
        try:
            async with self.unit_of_work() as session:
                for pk in pks:
                    await change(session, pk, operator_context(request))
        except PortalError as error:
            Flash.error(request, f"Nothing was changed: {error.message}")
        else:
            Flash.success(request, done.format(count=len(pks)))
        return RedirectResponse(self._back(request), status_code=302)

    def _back(self, request: Request) -> str:
        """Back to the studio page the action came from, else to this view's list."""
        referer = request.headers.get("referer", "")
        if referer.startswith(str(request.base_url)):
            return referer
        return str(request.url_for("admin:list", identity=self.identity))

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        raise Forbidden("The studio does not create rows.")

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        raise Forbidden("This view is read-only.")

    async def delete_model(self, request: Request, pk: Any) -> None:
        raise Forbidden("The studio does not delete rows.")
