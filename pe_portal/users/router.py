"""`/api/v1/users/me`: the signed-in user's account, its export and its deletion."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from pe_portal.clock import utcnow
from pe_portal.errors import Forbidden, InvalidInput, Unavailable
from pe_portal.http.deps import ContextDep, SessionDep
from pe_portal.http.errors import raises
from pe_portal.http.principal import PrincipalDep, SteppedUpDep
from pe_portal.http.reads import ReplicaSnapshotDep
from pe_portal.http.routing import DocumentedRoute
from pe_portal.principal import Account
from pe_portal.users import service
from pe_portal.users.deps import CurrentUserDep
from pe_portal.users.export_schemas import AccountExport
from pe_portal.users.schemas import AccountDelete, UserRead, UserUpdate

router = APIRouter(prefix="/users/me", tags=["account"], route_class=DocumentedRoute)


@router.get("", response_model=UserRead)
async def read_me(principal: PrincipalDep) -> Account:
    """The signed-in user's account."""
    return principal.account  # FastAPI validates it into UserRead once (response_model)


@router.patch("", response_model=UserRead)
@raises(InvalidInput)
async def update_me(
    body: UserUpdate, user: CurrentUserDep, session: SessionDep, context: ContextDep
) -> UserRead:
    """Change first and/or last name; null clears one."""
    user = await service.update_names(
        session, user=user, changes=body.model_dump(exclude_unset=True), context=context
    )
    return UserRead.model_validate(user)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
@raises(Forbidden, Unavailable)
async def delete_me(
    body: AccountDelete,
    _: SteppedUpDep,
    user: CurrentUserDep,
    session: SessionDep,
    context: ContextDep,
) -> None:
    """Delete the account, its profile, sessions and activity (the password is required, and
    a recent second factor for an account with one)."""
    await service.delete_own_account(session, user=user, password=body.password, context=context)


@router.get("/export", response_model=AccountExport)
async def export_me(
    principal: SteppedUpDep, snapshot: ReplicaSnapshotDep, response: Response
) -> AccountExport:
    """Everything held about the user, as one JSON document read from one snapshot (a recent
    second factor needed for an account with one)."""
    data = await service.export_account(snapshot, user_id=principal.user_id)
    now = utcnow()
    response.headers["Content-Disposition"] = (
        f'attachment; filename="pe-portal-export-{now:%Y%m%d}.json"'
    )
    response.headers["Cache-Control"] = "no-store"
    return AccountExport.of(data, exported_at=now)
