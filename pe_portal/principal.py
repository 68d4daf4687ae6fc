"""Who an authenticated request acts as, and the one check that finds out (DESIGN 7).

Shared below the features: every router of a signed-in person needs it, and the check spans two
of them (the session and its account), so the lookup itself is handed in by the app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pe_portal.clock import utcnow
from pe_portal.db.batch import BatchedLookup
from pe_portal.errors import Unauthenticated
from pe_portal.security.tokens import AccessTokens, Assurance


@dataclass(frozen=True, slots=True)
class Account:
    """A read-only snapshot of a `users` row, without the password hash: who a request acts as.
    Handlers that change the account load the `User` entity in their own unit of work."""

    id: str
    email: str
    first_name: str | None
    last_name: str | None
    is_active: bool
    is_verified: bool
    last_login: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Principal:
    """Who an authenticated request acts as: a snapshot of the account, and the session."""

    account: Account
    session_id: str
    assurance: Assurance  # from the verified token's claims: no query

    @property
    def user_id(self) -> str:
        return self.account.id

    def stepped_up(self, *, now: datetime, max_age: int) -> bool:
        """True when a second factor was verified within `max_age` seconds (RFC 9470)."""
        recent = now.timestamp() - self.assurance.auth_time <= max_age
        return self.assurance.aal >= 2 and recent


SessionOfUser = tuple[str, str]  # (session id, user id), as an access token names them
ActiveAccounts = BatchedLookup[SessionOfUser, Account]


async def authenticate(
    active_accounts: ActiveAccounts, *, token: str, access: AccessTokens
) -> Principal:
    """The principal behind a bearer token: signature, expiry, then one indexed check that the
    account is active and the session not revoked (DESIGN 7)."""
    claims = access.verify(token, now=utcnow())
    account = await active_accounts.get((claims.session_id, claims.user_id))
    if account is None:
        raise Unauthenticated(
            "This session has ended or the account is inactive; sign in again.",
            code="session_revoked",
        )
    return Principal(account=account, session_id=claims.session_id, assurance=claims.assurance)
