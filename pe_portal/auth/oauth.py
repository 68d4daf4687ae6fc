"""OAuth 2.0 token endpoint semantics (RFC 6749 §4.3, §6, §5.2): grants and RFC-shaped errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pe_portal.auth import second_factor, service
from pe_portal.config import Settings
from pe_portal.context import RequestContext
from pe_portal.db.engine import DriverConnections, unit_of_work
from pe_portal.errors import InvalidInput, PortalError, RateLimited, Unavailable
from pe_portal.http.errors import OAuthErrorBody, OAuthMfaRequired
from pe_portal.mfa import signin
from pe_portal.security.tokens import AccessTokens


class OAuthError(PortalError):
    """An error answered in RFC 6749 §5.2 shape: `{"error": ..., "error_description": ...}`."""

    def __init__(
        self, error: str, description: str, *, status: int = 400, keep_changes: bool = False,
        retry_after: int | None = None, extra: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(description, code=error, keep_changes=keep_changes)
        self.status = status
        self.retry_after = retry_after
        self.extra = extra or {}  # further members of the body (`mfa_token`)


def translate(error: PortalError) -> OAuthError:
    """A domain error as the token endpoint answers it."""
    if isinstance(error, RateLimited):
        return OAuthError(
            "invalid_grant", error.message, status=429, keep_changes=error.keep_changes,
            retry_after=error.retry_after,
        )  # fmt: skip
    if isinstance(error, Unavailable):
        return OAuthError(
            "temporarily_unavailable", error.message, status=503, retry_after=error.retry_after
        )
    if isinstance(error, InvalidInput):
        return OAuthError("invalid_request", error.message)
    return OAuthError("invalid_grant", error.message, keep_changes=error.keep_changes)


def _documented(description: str) -> dict[str, Any]:
    return {"model": OAuthErrorBody, "description": description}


# What the token endpoint answers in RFC 6749's shape (the API document lists these).
DOCUMENTED_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _documented(
        "`invalid_request` (a parameter is missing or invalid), `invalid_grant` (wrong "
        "credentials, an unusable refresh token), `unsupported_grant_type`."
    ),
    403: {
        "model": OAuthMfaRequired,
        "description": "`mfa_required`: the account has a second factor; use the mfa grant.",
    },
    429: _documented("`invalid_grant`: too many attempts (locked or rate-limited); `Retry-After`."),
    503: _documented("`temporarily_unavailable`: busy; see `Retry-After`."),
}


MFA_GRANT = "urn:pe-portal:grant-type:mfa"


def _tokens_or_mfa_required(signed_in: service.TokenPair | service.MfaPending) -> service.TokenPair:
    """A two-step sign-in answers 403 `mfa_required` with its `mfa_token` (the pending sign-in
    committed, so the token is good for the second-factor grant)."""
    if isinstance(signed_in, service.TokenPair):
        return signed_in
    raise OAuthError(
        "mfa_required", "This account has a second factor: use the mfa grant with mfa_token.",
        status=403, keep_changes=True,
        extra={"mfa_token": signed_in.mfa_token, "expires_in": signed_in.expires_in},
    )  # fmt: skip


def _proof(form: Mapping[str, str]) -> signin.Proof:
    otp, recovery_code = form.get("otp"), form.get("recovery_code")
    if bool(otp) == bool(recovery_code):
        raise OAuthError("invalid_request", "Send exactly one of `otp` and `recovery_code`.")
    if otp is not None and not (len(otp) == 6 and otp.isascii() and otp.isdigit()):
        raise OAuthError("invalid_request", "`otp` is a code of 6 digits.")
    if recovery_code is not None and len(recovery_code) > 40:
        raise OAuthError("invalid_request", "`recovery_code` is too long.")
    return signin.Proof(code=otp or None, recovery_code=recovery_code or None)


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise OAuthError("invalid_request", f"The `{name}` parameter is required.")
    return value


async def token(
    units: async_sessionmaker[AsyncSession],
    connections: DriverConnections,
    *,
    form: Mapping[str, str],
    context: RequestContext,
    settings: Settings,
    access: AccessTokens,
) -> service.TokenPair:
    """Run the `password`, `refresh_token` or second-factor grant named by `grant_type`."""
    grant = _required(form, "grant_type")
    try:
        if grant == "password":
            async with unit_of_work(units) as session:
                signed_in = await service.login(
                    session, email=_required(form, "username"),
                    password=_required(form, "password"), context=context, settings=settings,
                    access=access,
                )  # fmt: skip
                return _tokens_or_mfa_required(signed_in)
        if grant == MFA_GRANT:
            async with unit_of_work(units) as session:
                return await second_factor.verify(
                    session, mfa_token=_required(form, "mfa_token"), proof=_proof(form),
                    context=context, settings=settings, access=access,
                )  # fmt: skip
        if grant == "refresh_token":
            return await service.refresh(
                units, connections, refresh_token=_required(form, "refresh_token"),
                context=context, settings=settings, access=access,
            )  # fmt: skip
    except OAuthError:
        raise
    except PortalError as error:
        raise translate(error) from error
    raise OAuthError("unsupported_grant_type", f"The grant type `{grant[:40]}` is not supported.")
