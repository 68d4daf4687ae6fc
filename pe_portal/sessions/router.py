"""`/api/v1/auth/sessions`: the user's signed-in devices."""

from __future__ import annotations

from fastapi import APIRouter, status

from pe_portal.errors import NotFound
from pe_portal.http.deps import ContextDep, SessionDep
from pe_portal.http.errors import raises
from pe_portal.http.principal import PrincipalDep
from pe_portal.http.reads import ReplicaReadDep
from pe_portal.http.routing import DocumentedRoute
from pe_portal.sessions import service
from pe_portal.sessions.schemas import SessionRead

router = APIRouter(prefix="/auth/sessions", tags=["sessions"], route_class=DocumentedRoute)


@router.get("", response_model=list[SessionRead])
async def list_sessions(principal: PrincipalDep, session: ReplicaReadDep) -> list[SessionRead]:
    """The user's live sessions, most recently used first; `current` marks this one."""
    rows = await service.list_live(session, user_id=principal.user_id)
    return [
        SessionRead(
            id=row.id,
            user_agent=row.user_agent,
            ip_address=row.ip_address,
            created_at=row.created_at,
            last_used_at=row.updated_at,
            expires_at=row.expires_at,
            current=row.id == principal.session_id,
        )
        for row in rows
    ]


@router.delete("/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
@raises(NotFound)
async def revoke_session(
    session_id: str, principal: PrincipalDep, session: SessionDep, context: ContextDep
) -> None:
    """Revoke one of the user's sessions (another user's id is a 404)."""
    await service.revoke(session, user_id=principal.user_id, session_id=session_id, context=context)
