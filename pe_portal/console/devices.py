"""`/account/sessions`: every device signed in (this browser marked), signed out one by one or
all but this one."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from pe_portal.auth import service as auth
from pe_portal.console import csrf, pages
from pe_portal.console.errors import ConsoleRoute
from pe_portal.console.visitor import ContextDep, VisitorDep
from pe_portal.db.engine import unit_of_work
from pe_portal.sessions import service as sessions

router = APIRouter(prefix="/account/sessions", route_class=ConsoleRoute, include_in_schema=False)
_MAX_ID = 64


@router.get("")
async def devices(request: Request, visitor: VisitorDep) -> Response:
    async with unit_of_work(request.app.state.read_sessionmaker) as session:
        rows = await sessions.list_live(session, user_id=visitor.user_id)
    return pages.render(
        request, "sessions.html", signed_in=True, sessions=rows, current=visitor.session_id
    )


@router.post("/others/revoke", dependencies=[Depends(csrf.check)])
async def revoke_others(request: Request, visitor: VisitorDep, context: ContextDep) -> Response:
    async with unit_of_work(request.app.state.sessionmaker) as session:
        await auth.logout_all(session, principal=visitor, context=context, keep_current=True)
    return pages.redirect(request, "/account/sessions", done="others_revoked")


@router.post("/{session_id}/revoke", dependencies=[Depends(csrf.check)])
async def revoke(
    session_id: str, request: Request, visitor: VisitorDep, context: ContextDep
) -> Response:
    """Sign one device out (another person's session id is "not found", as in the API)."""
    async with unit_of_work(request.app.state.sessionmaker) as session:
        await sessions.revoke(
            session, user_id=visitor.user_id, session_id=session_id[:_MAX_ID], context=context
        )
    if session_id == visitor.session_id:
        return pages.redirect(request, "/account/sign-in", done="signed_out")
    return pages.redirect(request, "/account/sessions", done="session_revoked")
