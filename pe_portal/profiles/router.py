"""`/api/v1/users/me/profile`: the signed-in user's profile."""

from __future__ import annotations

from fastapi import APIRouter

from pe_portal.errors import NotFound
from pe_portal.http.deps import ContextDep, SessionDep
from pe_portal.http.errors import raises
from pe_portal.http.principal import PrincipalDep
from pe_portal.http.routing import DocumentedRoute
from pe_portal.profiles import service
from pe_portal.profiles.schemas import ProfileRead, ProfileUpdate

router = APIRouter(prefix="/users/me/profile", tags=["profile"], route_class=DocumentedRoute)


@router.get("", response_model=ProfileRead)
@raises(NotFound)
async def read_profile(principal: PrincipalDep, session: SessionDep) -> ProfileRead:
    """The signed-in user's profile."""
    profile = await service.get(session, user_id=principal.user_id)
    return ProfileRead.model_validate(profile)


@router.patch("", response_model=ProfileRead)
@raises(NotFound)
async def update_profile(
    body: ProfileUpdate, principal: PrincipalDep, session: SessionDep, context: ContextDep
) -> ProfileRead:
    """Change some profile fields; only those sent change, null clears an optional one."""
    profile = await service.update(
        session,
        user_id=principal.user_id,
        changes=body.model_dump(exclude_unset=True),
        context=context,
    )
    return ProfileRead.model_validate(profile)
