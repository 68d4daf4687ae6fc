"""Authentication as a dependency: routes are authenticated by declaring `PrincipalDep`; those
that need a recent second factor (RFC 9470 step-up) declare `SteppedUpDep`."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.errors import Forbidden, StepUpRequired, Unauthenticated
from pe_portal.http import API_PREFIX
from pe_portal.http.errors import raises
from pe_portal.principal import Principal, authenticate
from pe_portal.security.tokens import AccessTokens

# What an account without a factor may reach at aal1 when MFA_ENFORCE is on: itself, its
# factors' enrolment, and signing out. On the request's path (the route that matched has the
# same one): the route object FastAPI hands over carries only its router-relative path.
_ENROLMENT_PATHS = re.compile(
    re.escape(API_PREFIX)
    + r"/(users/me|auth/logout|auth/mfa/(factors|totp|totp/[^/]+/confirm"
    + r"|webauthn/register|webauthn/register/options))"
)

HasSecondFactor = Callable[[str], Awaitable[bool]]


class BearerPrincipal(OAuth2PasswordBearer):
    """The bearer-token scheme, resolved to the principal in the same step.

    One dependency per authenticated request, not a scheme plus a check: FastAPI's bookkeeping
    per dependency is on the hot path of every read (docs/benchmarks.md). Being the scheme, it
    still documents the endpoint's security, and its token URL makes Swagger UI's *Authorize*
    button speak the OAuth 2.0 password grant. No unit of work: one batched statement on the
    driver (`app.state.active_accounts`, which the app builds from the sign-in feature)."""

    # Read by the API document (`http.errors.raises`); 403 is MFA_ENFORCE's refusal.
    __raises__ = (Unauthenticated, Forbidden)

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        token = await super().__call__(request)
        if not token:
            raise Unauthenticated("Send an access token: Authorization: Bearer <token>.")
        state = request.app.state
        principal = await authenticate(
            state.active_accounts, token=token, access=state.access_tokens
        )
        if state.settings.mfa_enforce and principal.assurance.aal < 2:
            _refuse_unless_enrolling(request)
        return principal


def _refuse_unless_enrolling(request: Request) -> None:
    if _ENROLMENT_PATHS.fullmatch(request.url.path) is None:
        raise Forbidden(
            "Set up a second factor (POST /api/v1/auth/mfa/totp or a passkey), then sign in "
            "again with it.",
            code="mfa_enrolment_required",
        )


# The scheme keeps the name clients of the OpenAPI document already know.
current_principal = BearerPrincipal(
    tokenUrl="/api/v1/auth/token", scheme_name="OAuth2PasswordBearer", auto_error=False
)

PrincipalDep = Annotated[Principal, Depends(current_principal)]


@raises(StepUpRequired)
async def stepped_up(principal: PrincipalDep, request: Request) -> Principal:
    """The principal, if it verified a second factor within MFA_STEP_UP_MAX_AGE or its account
    has none; otherwise StepUpRequired. The factor check (`app.state.has_second_factor`, built
    from the mfa feature) runs only for a principal that is not stepped up."""
    settings: Settings = request.app.state.settings
    max_age = settings.mfa_step_up_max_age
    if principal.stepped_up(now=utcnow(), max_age=max_age):
        return principal
    has_second_factor: HasSecondFactor = request.app.state.has_second_factor
    if await has_second_factor(principal.user_id):
        raise StepUpRequired(max_age=max_age)
    return principal


SteppedUpDep = Annotated[Principal, Depends(stepped_up)]


# `async` although it does not await: FastAPI runs a plain `def` dependency in a thread.
async def access_tokens(request: Request) -> AccessTokens:
    tokens: AccessTokens = request.app.state.access_tokens
    return tokens


AccessTokensDep = Annotated[AccessTokens, Depends(access_tokens)]
