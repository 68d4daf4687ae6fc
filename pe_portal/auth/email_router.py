"""`/api/v1/auth/verify*` and `/api/v1/auth/password/{forgot,reset}`: flows finished by mail."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from pe_portal.auth import email_flows
from pe_portal.auth.deps import auth_rate_limit
from pe_portal.auth.email_schemas import (
    Accepted,
    ForgotPasswordRequest,
    ResetPasswordRequest,
    ResetPasswordResponse,
    VerifyRequest,
)
from pe_portal.errors import Conflict, Gone, InvalidInput, NotFound, Unavailable
from pe_portal.http.deps import ContextDep, SessionDep, SettingsDep
from pe_portal.http.errors import raises
from pe_portal.http.routing import DocumentedRoute
from pe_portal.users.deps import CurrentUserDep
from pe_portal.users.schemas import UserRead

router = APIRouter(
    prefix="/auth",
    tags=["auth"],
    dependencies=[Depends(auth_rate_limit)],
    route_class=DocumentedRoute,
)

# One answer whether or not the address has an account (no enumeration).
FORGOT_ANSWER = "If an account uses this address, a link to reset its password is on its way."


@router.post("/verify/request", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
@raises(Conflict)
async def request_verification(
    user: CurrentUserDep, session: SessionDep, context: ContextDep, settings: SettingsDep
) -> Accepted:
    """Mail the signed-in user a link that confirms their e-mail address."""
    await email_flows.request_verification(session, user=user, context=context, settings=settings)
    return Accepted(message="A confirmation link is on its way to your e-mail address.")


@router.post("/verify", response_model=UserRead)
@raises(NotFound, Gone, Conflict)
async def verify_email(
    body: VerifyRequest, session: SessionDep, context: ContextDep, settings: SettingsDep
) -> UserRead:
    """Confirm the e-mail address with the token from the mail."""
    user = await email_flows.verify_email(
        session, token=body.token, context=context, settings=settings
    )
    return UserRead.model_validate(user)


@router.post("/password/forgot", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def forgot_password(
    body: ForgotPasswordRequest, session: SessionDep, context: ContextDep, settings: SettingsDep
) -> Accepted:
    """Mail a password reset link; the same answer whether or not the account exists."""
    await email_flows.forgot_password(session, email=body.email, context=context, settings=settings)
    return Accepted(message=FORGOT_ANSWER)


@router.post("/password/reset", response_model=ResetPasswordResponse)
@raises(NotFound, Gone, InvalidInput, Unavailable)
async def reset_password(
    body: ResetPasswordRequest, session: SessionDep, context: ContextDep, settings: SettingsDep
) -> ResetPasswordResponse:
    """Set a new password with the token from the mail; every session is signed out."""
    revoked = await email_flows.reset_password(
        session, token=body.token, new_password=body.new_password, context=context,
        settings=settings,
    )  # fmt: skip
    return ResetPasswordResponse(sessions_revoked=revoked)
