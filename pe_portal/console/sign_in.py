"""`/account/sign-in`: the password, then (for an account with one) the second factor, and the
browser's session cookies; `/account/sign-out`."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.auth import second_factor
from pe_portal.auth import service as auth
from pe_portal.config import Settings
from pe_portal.console import cookies, csrf, forms, messages, pages
from pe_portal.console.errors import ConsoleRoute, retry_headers
from pe_portal.console.navigation import safe_next
from pe_portal.console.visitor import ContextDep, OptionalVisitorDep, VisitorDep
from pe_portal.db.engine import unit_of_work
from pe_portal.errors import InvalidInput, PortalError, RateLimited, Unauthenticated, Unavailable
from pe_portal.http.errors import status_for
from pe_portal.mfa.signin import Proof
from pe_portal.principal import Principal, authenticate

router = APIRouter(prefix="/account", route_class=ConsoleRoute, include_in_schema=False)
_SECOND_STEP = "/account/sign-in/second-factor"


def _units(request: Request) -> Any:
    return request.app.state.sessionmaker


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get("/sign-in")
async def sign_in_page(request: Request, visitor: OptionalVisitorDep) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if visitor is not None and request.query_params.get("step_up") is None:
        return pages.redirect(request, next_path)
    return pages.render(
        request, "sign_in.html", form=forms.Form({"email": request.query_params.get("email", "")}),
        next_path=next_path, step_up="step_up" in request.query_params,
    )  # fmt: skip


def _refused(request: Request, template: str, error: PortalError, **context: Any) -> Response:
    """The form again, with what went wrong said above it (and the status of the error)."""
    response = pages.render(
        request, template, status=status_for(type(error)),
        problem=messages.describe(error, pages.language(request)), **context,
    )  # fmt: skip
    response.headers.update(retry_headers(error))
    return response


async def _end_previous_session(request: Request, context: Any) -> None:
    """A browser signing in again (a step-up) leaves its former session: end it, audited."""
    previous = request.cookies.get(cookies.ACCESS_COOKIE)
    if not previous:
        return
    state = request.app.state
    try:
        principal = await _principal_of(request, previous)
    except Unauthenticated:
        return
    async with unit_of_work(state.sessionmaker) as session:
        await auth.logout(session, principal=principal, context=context)


async def _principal_of(request: Request, token: str) -> Principal:
    state = request.app.state
    return await authenticate(state.active_accounts, token=token, access=state.access_tokens)


async def _signed_in(
    request: Request, pair: auth.TokenPair, next_path: str, context: Any
) -> Response:
    await _end_previous_session(request, context)
    cookies.keep_signed_in(
        request, access_token=pair.access_token, refresh_token=pair.refresh_token,
        settings=_settings(request),
    )  # fmt: skip
    cookies.queue(request, cookies.CookieChange(cookies.MFA_COOKIE, None))
    return pages.redirect(request, next_path)


@router.post("/sign-in", dependencies=[Depends(csrf.check)])
async def sign_in(request: Request, context: ContextDep) -> Response:
    form = await forms.read(request)
    next_path = safe_next(form.get("next"))
    state = request.app.state
    try:
        async with unit_of_work(state.sessionmaker) as session:
            result = await auth.login(
                session, email=form.get("email"), password=form.get("password"),
                context=context, settings=state.settings, access=state.access_tokens,
            )  # fmt: skip
    except (Unauthenticated, InvalidInput, RateLimited, Unavailable) as error:
        return _refused(
            request, "sign_in.html", error, form=form, next_path=next_path, step_up=False
        )
    if isinstance(result, auth.MfaPending):
        cookies.queue(
            request,
            cookies.CookieChange(cookies.MFA_COOKIE, result.mfa_token, result.expires_in),
        )
        return pages.redirect(request, _SECOND_STEP, next=next_path)
    return await _signed_in(request, result, next_path, context)


def _pending_token(request: Request) -> str:
    token = request.cookies.get(cookies.MFA_COOKIE)
    if not token:
        raise Unauthenticated("This sign-in has expired; start again.", code="invalid_mfa_token")
    return token


async def _second_step_page(
    request: Request, session: AsyncSession, *, context: Any, next_path: str, status: int = 200,
    problem: str | None = None,
) -> Response:  # fmt: skip
    factors = await second_factor.pending_factors(
        session, mfa_token=_pending_token(request), context=context
    )
    passkeys = [factor for factor in factors if factor.type == "webauthn"]
    return pages.render(
        request, "second_factor.html", status=status, next_path=next_path, passkeys=passkeys,
        has_totp=any(factor.type == "totp" for factor in factors), problem=problem,
        form=forms.Form({}),
    )  # fmt: skip


@router.get("/sign-in/second-factor")
async def second_factor_page(request: Request, context: ContextDep) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    try:
        async with unit_of_work(request.app.state.read_sessionmaker) as session:
            return await _second_step_page(request, session, context=context, next_path=next_path)
    except Unauthenticated:
        return pages.redirect(request, "/account/sign-in", next=next_path)


def _proof(form: forms.Form) -> Proof:
    credential = form.optional("credential")
    if credential is not None:
        try:
            parsed = json.loads(credential)
        except ValueError as error:
            raise InvalidInput(
                "The passkey's answer is not valid.", code="invalid_passkey"
            ) from error
        if not isinstance(parsed, dict):
            raise InvalidInput("The passkey's answer is not valid.", code="invalid_passkey")
        return Proof(factor_id=form.optional("factorId"), credential=parsed)
    if form.optional("recoveryCode") is not None:
        return Proof(recovery_code=form.get("recoveryCode").strip())
    return Proof(code=form.get("code").strip().replace(" ", ""))


@router.post("/sign-in/second-factor", dependencies=[Depends(csrf.check)])
async def second_factor_submit(request: Request, context: ContextDep) -> Response:
    form = await forms.read(request, long_fields=frozenset({"credential"}))
    next_path = safe_next(form.get("next"))
    state = request.app.state
    token = _pending_token(request)
    try:
        async with unit_of_work(state.sessionmaker) as session:
            pair = await second_factor.verify(
                session, mfa_token=token, proof=_proof(form), context=context,
                settings=state.settings, access=state.access_tokens,
            )  # fmt: skip
    except PortalError as error:
        if error.code == "invalid_mfa_token":
            return pages.redirect(request, "/account/sign-in", next=next_path)
        async with unit_of_work(state.read_sessionmaker) as session:
            response = await _second_step_page(
                request, session, context=context, next_path=next_path,
                status=status_for(type(error)),
                problem=messages.describe(error, pages.language(request)),
            )  # fmt: skip
        response.headers.update(retry_headers(error))
        return response
    return await _signed_in(request, pair, next_path, context)


@router.post("/sign-in/passkey-options", dependencies=[Depends(csrf.check)])
async def passkey_options(request: Request, context: ContextDep) -> Response:
    """WebAuthn assertion options for the page's script (navigator.credentials.get)."""
    form = await forms.read(request)
    async with unit_of_work(request.app.state.sessionmaker) as session:
        options = await second_factor.passkey_challenge(
            session, mfa_token=_pending_token(request), factor_id=form.get("factorId"),
            context=context, settings=_settings(request),
        )  # fmt: skip
    return cookies.apply(request, JSONResponse(options))


@router.post("/sign-out", dependencies=[Depends(csrf.check)])
async def sign_out(request: Request, visitor: VisitorDep, context: ContextDep) -> Response:
    async with unit_of_work(request.app.state.sessionmaker) as session:
        await auth.logout(session, principal=visitor, context=context)
    cookies.forget_session(request)
    return pages.redirect(request, "/account/sign-in", done="signed_out")
