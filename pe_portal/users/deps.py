"""The signed-in account as an entity, for the handlers that change it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from pe_portal.http.deps import SessionDep
from pe_portal.http.principal import PrincipalDep
from pe_portal.users import service as users
from pe_portal.users.models import User


async def current_user(principal: PrincipalDep, session: SessionDep) -> User:
    """The signed-in account as an entity of this request's unit of work, for handlers that
    change it or read beyond the snapshot (one more primary-key read)."""
    return await users.get(session, user_id=principal.user_id)


CurrentUserDep = Annotated[User, Depends(current_user)]
