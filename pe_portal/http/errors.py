"""The error shape and the one table of error kinds to HTTP statuses: the handlers in
`pe_portal.web.errors` answer with it, and the API document (`pe_portal.web.openapi`) is derived
from it and from what each route declares it may raise (`raises`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from pe_portal import errors

STATUS_BY_KIND: dict[type[errors.PortalError], int] = {
    errors.InvalidInput: 422,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Gone: 410,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
}


def status_for(kind: type[errors.PortalError]) -> int:
    """The status of an error kind (its nearest mapped ancestor; 400 when none is)."""
    for ancestor in kind.__mro__:
        if ancestor in STATUS_BY_KIND:
            return STATUS_BY_KIND[ancestor]
    return 400


class ErrorContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Stable, for clients to switch on (e.g. `email_taken`).")
    message: str = Field(description="Readable by a person; may change between versions.")
    details: Any = Field(
        default=None, description="Per-field problems or figures (e.g. `retryAfter`), or null."
    )


class Error(BaseModel):
    """Every error answer of the API (the OAuth token endpoint answers RFC 6749's shape)."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorContent


class OAuthErrorBody(BaseModel):
    """RFC 6749 §5.2: the token endpoint's error answer."""

    error: str = Field(
        description="invalid_request, invalid_grant, unsupported_grant_type or "
        "temporarily_unavailable"
    )
    error_description: str


class OAuthMfaRequired(OAuthErrorBody):
    """The token endpoint's answer for an account with a second factor (DESIGN, MFA)."""

    mfa_token: str
    expires_in: int


Marked = TypeVar("Marked", bound=Callable[..., Any])


def raises(*kinds: type[errors.PortalError]) -> Callable[[Marked], Marked]:
    """Declare the error kinds a handler or dependency may raise, so the API document lists
    their statuses (derived from `STATUS_BY_KIND`, never written by hand)."""

    def mark(function: Marked) -> Marked:
        function.__raises__ = (*getattr(function, "__raises__", ()), *kinds)  # type: ignore[attr-defined]
        return function

    return mark
