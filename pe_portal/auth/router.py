"""`/api/v1/auth/...`: register, sign in (JSON and OAuth 2.0), refresh, sign out, password."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel

from pe_portal.auth import oauth, password_change, second_factor, service
from pe_portal.auth.deps import auth_rate_limit, oauth_rate_limit
from pe_portal.auth.schemas import (
    FactorSummary,
    LoginRequest,
    LogoutAllResponse,
    MfaChallengeRequest,
    MfaRequiredResponse,
    MfaVerifyRequest,
    OAuthTokenResponse,
    PasswordChangeRequest,
    PasswordChangeResponse,
    RefreshRequest,
    RegisterRequest,
    TokenResponse,
)
from pe_portal.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from pe_portal.http import API_PREFIX
from pe_portal.http.deps import ContextDep, SessionDep, SettingsDep, TokenHandlesDep
from pe_portal.http.errors import raises
from pe_portal.http.principal import AccessTokensDep, PrincipalDep, SteppedUpDep
from pe_portal.http.routing import DocumentedRoute
from pe_portal.mfa.signin import Proof
from pe_portal.users import service as users
from pe_portal.users.deps import CurrentUserDep
from pe_portal.users.schemas import UserRead


def _post(path: str) -> str:
    """An OpenAPI operationRef: the POST operation at `path` (a JSON pointer into `paths`)."""
    return "#/paths/" + f"{API_PREFIX}/auth{path}".replace("~", "~0").replace("/", "~1") + "/post"


# OpenAPI links: which response feeds which request, so that a client (or the stateful fuzzer)
# can follow register -> login -> refresh -> refresh ... -> logout from the document alone.
_SIGNED_IN_LINKS: dict[str, Any] = {
    "refresh": {
        "operationRef": _post("/refresh"),
        "requestBody": {"refreshToken": "$response.body#/refreshToken"},
        "description": "Rotate this pair's refresh token.",
    },
    "logout": {
        "operationRef": _post("/logout"),
        "parameters": {"header.Authorization": "Bearer {$response.body#/accessToken}"},
        "description": "End this session.",
    },
}
_REGISTERED_LINKS: dict[str, Any] = {
    "login": {
        "operationRef": _post("/login"),
        "requestBody": {"email": "$request.body#/email", "password": "$request.body#/password"},
        "description": "Sign in to the new account.",
    }
}

router = APIRouter(
    prefix="/auth",
    tags=["auth"],
    dependencies=[Depends(auth_rate_limit)],
    route_class=DocumentedRoute,
)
# The token endpoint answers in RFC 6749's shape, its rate limit included.
oauth_router = APIRouter(
    prefix="/auth",
    tags=["auth"],
    dependencies=[Depends(oauth_rate_limit)],
    route_class=DocumentedRoute,
)
jwks_router = APIRouter(tags=["auth"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _no_store(answer: BaseModel) -> Response:
    """`answer` as the JSON FastAPI would write for the route's response model, marked not to
    be cached (tokens). Serialised here: handed a model, FastAPI validates it once more before
    serialising it, CPU on the refresh path (docs/benchmarks.md)."""
    body = answer.model_dump_json(by_alias=True)
    return Response(body, media_type="application/json", headers=_NO_STORE)


def _token_response(pair: service.TokenPair) -> Response:
    return _no_store(
        TokenResponse(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
            user=UserRead.model_validate(pair.user),
        )
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses={201: {"links": _REGISTERED_LINKS}},
)
@raises(InvalidInput, Conflict, Unavailable)
async def register(
    body: RegisterRequest, session: SessionDep, context: ContextDep, settings: SettingsDep
) -> UserRead:
    """Create an account and its profile."""
    user = await users.create_user(
        session, email=body.email, password=body.password, first_name=body.first_name,
        last_name=body.last_name, context=context, settings=settings,
    )  # fmt: skip
    return UserRead.model_validate(user)


def _mfa_required(pending: service.MfaPending) -> Response:
    factors = [FactorSummary(id=factor.id, type=factor.type) for factor in pending.factors]
    return _no_store(
        MfaRequiredResponse(
            mfa_token=pending.mfa_token, factors=factors, expires_in=pending.expires_in
        )
    )


@router.post(
    "/login",
    response_model=TokenResponse | MfaRequiredResponse,
    responses={200: {"links": _SIGNED_IN_LINKS}},
)
@raises(InvalidInput, Unauthenticated, RateLimited, Unavailable)
async def login(
    body: LoginRequest,
    session: SessionDep,
    context: ContextDep,
    settings: SettingsDep,
    access: AccessTokensDep,
) -> Response:
    """Sign in with e-mail and password; a new session for this device, or, for an account
    with a second factor, an mfaToken for POST /auth/mfa/verify."""
    signed_in = await service.login(
        session, email=body.email, password=body.password, context=context,
        settings=settings, access=access,
    )  # fmt: skip
    if isinstance(signed_in, service.MfaPending):
        return _mfa_required(signed_in)
    return _token_response(signed_in)


@router.post("/mfa/challenge")
@raises(Unauthenticated, NotFound, RateLimited)
async def mfa_challenge(
    body: MfaChallengeRequest, session: SessionDep, context: ContextDep, settings: SettingsDep
) -> dict[str, object]:
    """WebAuthn assertion options for one passkey of a pending sign-in
    (navigator.credentials.get)."""
    return await second_factor.passkey_challenge(
        session, mfa_token=body.mfa_token, factor_id=body.factor_id, context=context,
        settings=settings,
    )  # fmt: skip


@router.post(
    "/mfa/verify", response_model=TokenResponse, responses={200: {"links": _SIGNED_IN_LINKS}}
)
@raises(InvalidInput, Unauthenticated, NotFound, Conflict, RateLimited, Unavailable)
async def mfa_verify(
    body: MfaVerifyRequest,
    session: SessionDep,
    context: ContextDep,
    settings: SettingsDep,
    access: AccessTokensDep,
) -> Response:
    """Complete a two-step sign-in with a code, a recovery code or a passkey (aal 2)."""
    proof = Proof(body.code, body.recovery_code, body.factor_id, body.credential)
    pair = await second_factor.verify(
        session, mfa_token=body.mfa_token, proof=proof, context=context, settings=settings,
        access=access,
    )  # fmt: skip
    return _token_response(pair)


@oauth_router.post(
    "/token",
    response_model=OAuthTokenResponse,
    responses=oauth.DOCUMENTED_ERRORS,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {
                                "type": "string",
                                "enum": ["password", "refresh_token", oauth.MFA_GRANT],
                            },
                            "username": {"type": "string"},
                            "password": {"type": "string"},
                            "refresh_token": {"type": "string"},
                            "mfa_token": {"type": "string"},
                            "otp": {"type": "string", "pattern": "^[0-9]{6}$"},
                            "recovery_code": {"type": "string", "maxLength": 40},
                            "scope": {"type": "string"},
                        },
                    }
                }
            },
            "required": True,
        }
    },
)
async def oauth_token(request: Request, handles: TokenHandlesDep, context: ContextDep) -> Response:
    """OAuth 2.0 token endpoint (RFC 6749): `password`, `refresh_token` and the second-factor
    grant `urn:pe-portal:grant-type:mfa` (`mfa_token` with `otp` or `recovery_code`)."""
    form = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}
    pair = await oauth.token(
        handles.units, handles.connections, form=form, context=context,
        settings=handles.settings, access=handles.access,
    )  # fmt: skip
    answer = OAuthTokenResponse(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )
    return _no_store(answer)


@router.post("/refresh", response_model=TokenResponse, responses={200: {"links": _SIGNED_IN_LINKS}})
@raises(Unauthenticated)
async def refresh(body: RefreshRequest, handles: TokenHandlesDep, context: ContextDep) -> Response:
    """Exchange a refresh token for a new pair (rotation)."""
    pair = await service.refresh(
        handles.units, handles.connections, refresh_token=body.refresh_token, context=context,
        settings=handles.settings, access=handles.access,
    )  # fmt: skip
    return _token_response(pair)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(principal: PrincipalDep, session: SessionDep, context: ContextDep) -> None:
    """Revoke the current session."""
    await service.logout(session, principal=principal, context=context)


@router.post("/logout-all", response_model=LogoutAllResponse)
async def logout_all(
    principal: PrincipalDep, session: SessionDep, context: ContextDep
) -> LogoutAllResponse:
    """Revoke every session of the user, on every device."""
    count = await service.logout_all(session, principal=principal, context=context)
    return LogoutAllResponse(sessions_revoked=count)


@router.post("/password/change", response_model=PasswordChangeResponse)
@raises(InvalidInput, Forbidden, Unavailable)
async def change_password(
    body: PasswordChangeRequest,
    principal: SteppedUpDep,
    user: CurrentUserDep,
    session: SessionDep,
    context: ContextDep,
    settings: SettingsDep,
) -> PasswordChangeResponse:
    """Change the password (current one required, and a recent second factor for an account
    with one); other sessions are revoked."""
    revoked = await password_change.change_password(
        session, user=user, session_id=principal.session_id,
        current_password=body.current_password,
        new_password=body.new_password, context=context, settings=settings,
    )  # fmt: skip
    return PasswordChangeResponse(other_sessions_revoked=revoked)


@jwks_router.get("/.well-known/jwks.json")
async def jwks(access: AccessTokensDep) -> dict[str, object]:
    """The public keys that verify access tokens (JWK Set)."""
    return access.keys.jwks()
