"""Authentication as a dependency: routes are authenticated by declaring `PrincipalDep`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from pe_portal.errors import Unauthenticated
from pe_portal.principal import Principal, authenticate
from pe_portal.security.tokens import AccessTokens


class BearerPrincipal(OAuth2PasswordBearer):
    """The bearer-token scheme, resolved to the principal in the same step.

    One dependency per authenticated request, not a scheme plus a check: FastAPI's bookkeeping
    per dependency is on the hot path of every read (docs/benchmarks.md). Being the scheme, it
    still documents the endpoint's security, and its token URL makes Swagger UI's *Authorize*
    button speak the OAuth 2.0 password grant. No unit of work: one batched statement on the
    driver (`app.state.active_accounts`, which the app builds from the sign-in feature)."""

    __raises__ = (Unauthenticated,)  # read by the API document (`http.errors.raises`)

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        token = await super().__call__(request)
        if not token:
            raise Unauthenticated("Send an access token: Authorization: Bearer <token>.")
        state = request.app.state
        return await authenticate(state.active_accounts, token=token, access=state.access_tokens)


# The scheme keeps the name clients of the OpenAPI document already know.
current_principal = BearerPrincipal(
    tokenUrl="/api/v1/auth/token", scheme_name="OAuth2PasswordBearer", auto_error=False
)

PrincipalDep = Annotated[Principal, Depends(current_principal)]


# `async` although it does not await: FastAPI runs a plain `def` dependency in a thread.
async def access_tokens(request: Request) -> AccessTokens:
    tokens: AccessTokens = request.app.state.access_tokens
    return tokens


AccessTokensDep = Annotated[AccessTokens, Depends(access_tokens)]
