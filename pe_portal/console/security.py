"""`/account/security`: the password (changed with a recent second factor when the account has
one), TOTP with its QR code, passkeys, recovery codes, and removing a factor."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.auth import password_change
from pe_portal.clock import utcnow
from pe_portal.console import cookies, csrf, forms, messages, pages
from pe_portal.console.errors import ConsoleRoute, retry_headers
from pe_portal.console.visitor import ContextDep, VisitorDep
from pe_portal.db.engine import unit_of_work
from pe_portal.errors import InvalidInput, PortalError, StepUpRequired
from pe_portal.http.errors import status_for
from pe_portal.mfa import service as mfa
from pe_portal.mfa import totp
from pe_portal.mfa.schemas import PasskeyRegisterRequest, TotpStartRequest
from pe_portal.principal import Principal
from pe_portal.users import service as users

router = APIRouter(prefix="/account/security", route_class=ConsoleRoute, include_in_schema=False)
HOME = "/account/security"


async def _page(
    request: Request, visitor: Principal, *, status: int = 200, problem: str | None = None,
    form: forms.Form | None = None,
) -> Response:  # fmt: skip
    async with unit_of_work(request.app.state.read_sessionmaker) as session:
        factors = await mfa.confirmed_factors(session, user_id=visitor.user_id)
        codes_left = await mfa.unused_recovery_codes(session, user_id=visitor.user_id)
    return pages.render(
        request, "security.html", status=status, signed_in=True, factors=factors,
        codes_left=codes_left, problem=problem, form=form or forms.Form({}),
        stepped_up=_stepped_up(request, visitor),
    )  # fmt: skip


def _stepped_up(request: Request, visitor: Principal) -> bool:
    return visitor.stepped_up(now=utcnow(), max_age=request.app.state.settings.mfa_step_up_max_age)


async def _require_step_up(request: Request, visitor: Principal) -> None:
    """RFC 9470's rule, as the API applies it: an account with a factor needs a recent one."""
    if _stepped_up(request, visitor):
        return
    if await request.app.state.has_second_factor(visitor.user_id):
        raise StepUpRequired(max_age=request.app.state.settings.mfa_step_up_max_age)


async def _step_up_refusal(request: Request, visitor: Principal) -> Response | None:
    """None when the action may go ahead; else the way to it: sign in again with the factor,
    then come back here."""
    try:
        await _require_step_up(request, visitor)
    except StepUpRequired:
        return pages.redirect(
            request, "/account/sign-in", next=HOME, step_up="1", email=visitor.account.email
        )
    return None


def _problem(error: PortalError, request: Request) -> str:
    return messages.describe(error, pages.language(request))


@router.get("")
async def security(request: Request, visitor: VisitorDep) -> Response:
    return await _page(request, visitor)


@router.post("/password", dependencies=[Depends(csrf.check)])
async def change_password(request: Request, visitor: VisitorDep, context: ContextDep) -> Response:
    form = await forms.read(request)
    state = request.app.state
    if (refusal := await _step_up_refusal(request, visitor)) is not None:
        return refusal
    try:
        async with unit_of_work(state.sessionmaker) as session:
            user = await users.get(session, user_id=visitor.user_id)
            await password_change.change_password(
                session, user=user, session_id=visitor.session_id,
                current_password=form.get("currentPassword"),
                new_password=form.get("newPassword"), context=context, settings=state.settings,
            )  # fmt: skip
    except PortalError as error:
        form.errors.update(dict.fromkeys(
            [name for name in forms.fields_named(error) if name in form.values]
            or ["currentPassword" if error.code == "invalid_password" else "newPassword"],
            _problem(error, request),
        ))  # fmt: skip
        response = await _page(request, visitor, status=status_for(type(error)), form=form)
        response.headers.update(retry_headers(error))
        return response
    return pages.redirect(request, HOME, done="password_changed")


def _factor_name(form: forms.Form, schema: type[TotpStartRequest | PasskeyRegisterRequest]) -> str:
    """The name under the API's own constraint for it (the schema's field), or its default
    when left empty."""
    field = schema.model_fields["name"]
    raw = form.get("name").strip()
    if not raw:
        return str(field.default)
    try:
        return TypeAdapter(Annotated[str, field]).validate_python(raw)
    except ValidationError as error:
        raise InvalidInput("The name is 1 to 64 characters.", code="invalid_name") from error


def _totp_setup(
    request: Request, enrolment: mfa.TotpEnrolment, *, status: int = 200,
    problem: str | None = None,
) -> Response:  # fmt: skip
    return pages.render(
        request, "totp_setup.html", status=status, signed_in=True, problem=problem,
        factor_id=enrolment.factor.id, secret=enrolment.secret,
        qr=totp.qr_data_uri(enrolment.otpauth_uri), uri=enrolment.otpauth_uri, form=forms.Form({}),
    )  # fmt: skip


@router.post("/totp", dependencies=[Depends(csrf.check)])
async def start_totp(request: Request, visitor: VisitorDep) -> Response:
    form = await forms.read(request)
    state = request.app.state
    try:
        name = _factor_name(form, TotpStartRequest)
        async with unit_of_work(state.sessionmaker) as session:
            user = await users.get(session, user_id=visitor.user_id)
            enrolment = await mfa.start_totp(session, user=user, name=name, settings=state.settings)
    except PortalError as error:
        return await _page(
            request, visitor, status=status_for(type(error)), problem=_problem(error, request)
        )
    return _totp_setup(request, enrolment)


async def _enrolment_again(
    session: AsyncSession, request: Request, visitor: Principal, factor_id: str, error: PortalError
) -> Response:
    user = await users.get(session, user_id=visitor.user_id)
    enrolment = await mfa.pending_totp(
        session, user=user, factor_id=factor_id, settings=request.app.state.settings
    )
    return _totp_setup(
        request, enrolment, status=status_for(type(error)), problem=_problem(error, request)
    )


def _enrolled(request: Request, enrolled: mfa.Enrolled) -> Response:
    if enrolled.recovery_codes:
        return pages.render(
            request, "recovery_codes.html", signed_in=True, codes=enrolled.recovery_codes,
            first=True,
        )  # fmt: skip
    return pages.redirect(request, HOME, done="factor_added")


@router.post("/totp/confirm", dependencies=[Depends(csrf.check)])
async def confirm_totp(request: Request, visitor: VisitorDep, context: ContextDep) -> Response:
    form = await forms.read(request)
    state = request.app.state
    factor_id = form.get("factorId")
    try:
        async with unit_of_work(state.sessionmaker) as session:
            user = await users.get(session, user_id=visitor.user_id)
            enrolled = await mfa.confirm_totp(
                session, user=user, factor_id=factor_id,
                code=form.get("code").strip().replace(" ", ""), context=context,
                settings=state.settings,
            )  # fmt: skip
    except InvalidInput as error:
        async with unit_of_work(state.read_sessionmaker) as session:
            return await _enrolment_again(session, request, visitor, factor_id, error)
    return _enrolled(request, enrolled)


@router.post("/passkeys/options", dependencies=[Depends(csrf.check)])
async def passkey_options(request: Request, visitor: VisitorDep) -> Response:
    """Creation options for the page's script (navigator.credentials.create)."""
    async with unit_of_work(request.app.state.sessionmaker) as session:
        user = await users.get(session, user_id=visitor.user_id)
        options = await mfa.passkey_options(session, user=user, settings=request.app.state.settings)
    return cookies.apply(request, JSONResponse(options))


def _credential(form: forms.Form) -> dict[str, Any]:
    try:
        parsed = json.loads(form.get("credential"))
    except ValueError as error:
        raise InvalidInput("The passkey's answer is not valid.", code="invalid_passkey") from error
    if not isinstance(parsed, dict):
        raise InvalidInput("The passkey's answer is not valid.", code="invalid_passkey")
    return parsed


@router.post("/passkeys", dependencies=[Depends(csrf.check)])
async def add_passkey(request: Request, visitor: VisitorDep, context: ContextDep) -> Response:
    form = await forms.read(request, long_fields=frozenset({"credential"}))
    state = request.app.state
    try:
        name = _factor_name(form, PasskeyRegisterRequest)
        async with unit_of_work(state.sessionmaker) as session:
            user = await users.get(session, user_id=visitor.user_id)
            enrolled = await mfa.register_passkey(
                session, user=user, credential=_credential(form), name=name, context=context,
                settings=state.settings,
            )  # fmt: skip
    except PortalError as error:
        return await _page(
            request, visitor, status=status_for(type(error)), problem=_problem(error, request)
        )
    return _enrolled(request, enrolled)


@router.post("/factors/{factor_id}/remove", dependencies=[Depends(csrf.check)])
async def remove_factor(
    factor_id: str, request: Request, visitor: VisitorDep, context: ContextDep
) -> Response:
    if (refusal := await _step_up_refusal(request, visitor)) is not None:
        return refusal
    async with unit_of_work(request.app.state.sessionmaker) as session:
        user = await users.get(session, user_id=visitor.user_id)
        await mfa.remove_factor(session, user=user, factor_id=factor_id[:64], context=context)
    return pages.redirect(request, HOME, done="factor_removed")


@router.post("/recovery-codes", dependencies=[Depends(csrf.check)])
async def new_recovery_codes(
    request: Request, visitor: VisitorDep, context: ContextDep
) -> Response:
    if (refusal := await _step_up_refusal(request, visitor)) is not None:
        return refusal
    async with unit_of_work(request.app.state.sessionmaker) as session:
        user = await users.get(session, user_id=visitor.user_id)
        codes = await mfa.regenerate_recovery_codes(
            session, user=user, context=context, settings=request.app.state.settings
        )
    return pages.render(request, "recovery_codes.html", signed_in=True, codes=codes, first=False)
