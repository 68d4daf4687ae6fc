"""Who is at the browser: the principal behind its session cookies (rotated when the access
token has lapsed, as `POST /auth/refresh` does), with the profile's language and zone for the
pages. A page of a signed-in person declares `VisitorDep`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pe_portal.auth import service as auth
from pe_portal.config import Settings
from pe_portal.console import cookies, pages
from pe_portal.console.errors import ENROLMENT_PAGE, EnrolmentRequired, SignInRequired
from pe_portal.context import RequestContext
from pe_portal.db.engine import unit_of_work
from pe_portal.errors import Unauthenticated
from pe_portal.http.deps import request_context
from pe_portal.principal import Principal, authenticate
from pe_portal.profiles import service as profiles


async def _from_access_cookie(request: Request) -> Principal | None:
    token = request.cookies.get(cookies.ACCESS_COOKIE)
    if not token:
        return None
    state = request.app.state
    try:
        return await authenticate(state.active_accounts, token=token, access=state.access_tokens)
    except Unauthenticated as error:
        if error.code in ("token_expired", "invalid_token"):
            return None  # the refresh cookie may still hold the session
        raise SignInRequired from error


async def _from_session_cookie(request: Request) -> Principal:
    presented = request.cookies.get(cookies.SESSION_COOKIE)
    if not presented:
        raise SignInRequired
    state = request.app.state
    try:
        pair = await auth.refresh(
            state.sessionmaker, state.driver_connections, refresh_token=presented,
            context=await request_context(request), settings=state.settings,
            access=state.access_tokens,
        )  # fmt: skip
    except Unauthenticated as error:
        raise SignInRequired from error
    cookies.keep_signed_in(
        request, access_token=pair.access_token, refresh_token=pair.refresh_token,
        settings=state.settings,
    )  # fmt: skip
    return await authenticate(
        state.active_accounts, token=pair.access_token, access=state.access_tokens
    )


def _refuse_unless_enrolling(request: Request, principal: Principal) -> None:
    """MFA_ENFORCE as the API applies it: at aal1, only setting up a factor (and signing out)."""
    settings: Settings = request.app.state.settings
    if not settings.mfa_enforce or principal.assurance.aal >= 2:
        return
    path = request.url.path
    if not path.startswith((ENROLMENT_PAGE, "/account/sign-out", "/account/static")):
        raise EnrolmentRequired


async def current_principal(request: Request) -> Principal:
    """The browser's principal; SignInRequired when it has no live session."""
    principal = await _from_access_cookie(request) or await _from_session_cookie(request)
    _refuse_unless_enrolling(request, principal)
    async with unit_of_work(request.app.state.read_sessionmaker) as session:
        profile = await profiles.find(session, user_id=principal.user_id)
    pages.set_person(
        request,
        language=profile.language if profile else None,
        timezone=profile.timezone if profile else None,
    )
    return principal


async def optional_principal(request: Request) -> Principal | None:
    """The principal when the browser is signed in, else None (pages anyone may see)."""
    try:
        return await current_principal(request)
    except SignInRequired:
        return None


VisitorDep = Annotated[Principal, Depends(current_principal)]
OptionalVisitorDep = Annotated[Principal | None, Depends(optional_principal)]
ContextDep = Annotated[RequestContext, Depends(request_context)]
