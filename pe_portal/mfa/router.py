"""`/api/v1/auth/mfa/...`: the signed-in account's factors (the sign-in's second step,
`/auth/mfa/challenge` and `/auth/mfa/verify`, is the auth router's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Response, status

from pe_portal.errors import Conflict, InvalidInput, NotFound
from pe_portal.http.deps import ContextDep, SessionDep, SettingsDep
from pe_portal.http.errors import raises
from pe_portal.http.principal import PrincipalDep, SteppedUpDep
from pe_portal.http.routing import DocumentedRoute
from pe_portal.mfa import service
from pe_portal.mfa.schemas import (
    CodeRequest,
    EnrolledRead,
    FactorRead,
    PasskeyRegisterRequest,
    RecoveryCodesRead,
    TotpEnrolmentRead,
    TotpStartRequest,
)
from pe_portal.users.deps import CurrentUserDep

router = APIRouter(prefix="/auth/mfa", tags=["mfa"], route_class=DocumentedRoute)

FactorIdPath = Annotated[str, Path(min_length=1, max_length=64)]
_NO_STORE = {"Cache-Control": "no-store"}


def _enrolled(enrolled: service.Enrolled, response: Response) -> EnrolledRead:
    response.headers.update(_NO_STORE)
    factor = FactorRead.model_validate(enrolled.factor)
    return EnrolledRead(factor=factor, recovery_codes=enrolled.recovery_codes)


@router.get("/factors", response_model=list[FactorRead])
async def list_factors(principal: PrincipalDep, session: SessionDep) -> list[FactorRead]:
    """The account's confirmed factors (never their secrets)."""
    factors = await service.confirmed_factors(session, user_id=principal.user_id)
    return [FactorRead.model_validate(factor) for factor in factors]


@router.post("/totp", status_code=status.HTTP_201_CREATED, response_model=TotpEnrolmentRead)
@raises(Conflict)
async def start_totp(
    user: CurrentUserDep,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    body: Annotated[TotpStartRequest | None, Body()] = None,
) -> TotpEnrolmentRead:
    """Start a TOTP enrolment: the secret, its otpauth:// URI and QR code (pending until
    confirmed)."""
    name = (body or TotpStartRequest()).name
    enrolment = await service.start_totp(session, user=user, name=name, settings=settings)
    response.headers.update(_NO_STORE)
    return TotpEnrolmentRead(
        factor_id=enrolment.factor.id, secret=enrolment.secret,
        otpauth_uri=enrolment.otpauth_uri, qr_svg=enrolment.qr_svg,
    )  # fmt: skip


@router.post("/totp/{factor_id}/confirm", response_model=EnrolledRead)
@raises(InvalidInput, NotFound, Conflict)
async def confirm_totp(
    factor_id: FactorIdPath, body: CodeRequest, user: CurrentUserDep, session: SessionDep,
    context: ContextDep, settings: SettingsDep, response: Response,
) -> EnrolledRead:  # fmt: skip
    """Activate a pending TOTP factor with a code; the first factor brings recovery codes."""
    enrolled = await service.confirm_totp(
        session, user=user, factor_id=factor_id, code=body.code, context=context,
        settings=settings,
    )  # fmt: skip
    return _enrolled(enrolled, response)


@router.post("/webauthn/register/options")
@raises(Conflict)
async def passkey_options(
    user: CurrentUserDep, session: SessionDep, settings: SettingsDep
) -> dict[str, object]:
    """Creation options for a new passkey (navigator.credentials.create)."""
    return await service.passkey_options(session, user=user, settings=settings)


@router.post("/webauthn/register", status_code=status.HTTP_201_CREATED, response_model=EnrolledRead)
@raises(InvalidInput, NotFound, Conflict)
async def register_passkey(
    body: PasskeyRegisterRequest, user: CurrentUserDep, session: SessionDep,
    context: ContextDep, settings: SettingsDep, response: Response,
) -> EnrolledRead:  # fmt: skip
    """Store the new passkey from the browser's reply; the first factor brings recovery codes."""
    enrolled = await service.register_passkey(
        session, user=user, credential=body.credential, name=body.name, context=context,
        settings=settings,
    )  # fmt: skip
    return _enrolled(enrolled, response)


@router.delete("/factors/{factor_id}", status_code=status.HTTP_204_NO_CONTENT)
@raises(NotFound)
async def remove_factor(
    factor_id: FactorIdPath, _: SteppedUpDep, user: CurrentUserDep, session: SessionDep,
    context: ContextDep,
) -> None:  # fmt: skip
    """Remove a factor (needs a recent second-factor sign-in)."""
    await service.remove_factor(session, user=user, factor_id=factor_id, context=context)


@router.post("/recovery-codes", response_model=RecoveryCodesRead)
@raises(Conflict)
async def regenerate_recovery_codes(
    _: SteppedUpDep, user: CurrentUserDep, session: SessionDep, context: ContextDep,
    settings: SettingsDep, response: Response,
) -> RecoveryCodesRead:  # fmt: skip
    """A new set of recovery codes, the old set void (needs a recent second-factor sign-in)."""
    codes = await service.regenerate_recovery_codes(
        session, user=user, context=context, settings=settings
    )
    response.headers.update(_NO_STORE)
    return RecoveryCodesRead(recovery_codes=codes)
