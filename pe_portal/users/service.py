"""Accounts: creation, activation, deletion — for HTTP, the CLI and the studio alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from pydantic.alias_generators import to_camel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit.models import AuditAction, AuditLog, AuditResource
from pe_portal.audit.service import count_user_rows, email_digest, full_trail, record
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.context import RequestContext
from pe_portal.db.base import new_id
from pe_portal.errors import Conflict, Forbidden, InvalidInput, NotFound
from pe_portal.profiles import service as profiles
from pe_portal.profiles.models import UserProfile
from pe_portal.security.passwords import check_length, check_policy, hash_password, verify_password
from pe_portal.sessions import service as sessions
from pe_portal.sessions.models import Session
from pe_portal.users import repository
from pe_portal.users.models import User

MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100
# What `clean_name` lets through, for the API document: no control characters.
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*$"


def normalise_email(raw: str) -> str:
    """Trimmed, validated, lower-cased (DESIGN 4); InvalidInput naming the field otherwise."""
    candidate = raw.strip()
    try:
        if len(candidate) > MAX_EMAIL_LENGTH:
            raise EmailNotValidError("too long")
        valid = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidInput(
            "The e-mail address is not valid.",
            code="invalid_email",
            details=[{"field": "email", "message": str(error)}],
        ) from error
    return valid.normalized.lower()


def clean_name(value: str | None, field: str) -> str | None:
    """Names are trimmed; empty means none; control characters are refused."""
    if value is None:
        return None
    value = value.strip()
    if len(value) > MAX_NAME_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput(
            f"{field} must be at most {MAX_NAME_LENGTH} printable characters.",
            code="invalid_name",
            details=[{"field": field}],
        )
    return value or None


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    first_name: str | None,
    last_name: str | None,
    context: RequestContext,
    settings: Settings,
    verified: bool = False,
) -> User:
    """A new account and its profile, audited as REGISTER; Conflict when the e-mail is taken."""
    normalised = normalise_email(email)
    check_policy(password, min_length=settings.password_min_length, email=normalised)
    first, last = clean_name(first_name, "firstName"), clean_name(last_name, "lastName")
    if await repository.get_by_email(session, normalised) is not None:
        raise _email_taken()
    now = utcnow()
    user = User(
        id=new_id(),
        email=normalised,
        password=await hash_password(password),
        first_name=first,
        last_name=last,
        is_active=True,
        is_verified=verified,
        created_at=now,
        updated_at=now,
    )
    try:
        await repository.add(session, user)
    except IntegrityError as error:  # a concurrent registration of the same e-mail won
        raise _email_taken() from error
    await profiles.create_default(session, user_id=user.id)
    await record(
        session,
        action=AuditAction.REGISTER,
        resource=AuditResource.USER,
        context=context,
        user_id=user.id,
    )
    return user


def _email_taken() -> Conflict:
    return Conflict(
        "An account with this e-mail already exists.",
        code="email_taken",
        details=[{"field": "email"}],
    )


async def get(session: AsyncSession, *, user_id: str) -> User:
    user = await repository.get(session, user_id)
    if user is None:
        raise NotFound("No such user.", code="user_not_found")
    return user


async def get_locked(session: AsyncSession, *, user_id: str) -> User:
    """The account, locked until the transaction ends: one-shot changes (a reset) serialise."""
    user = await repository.get_for_update(session, user_id)
    if user is None:
        raise NotFound("No such user.", code="user_not_found")
    return user


async def find_by_email(session: AsyncSession, *, email: str) -> User:
    user = await repository.get_by_email(session, normalise_email(email))
    if user is None:
        raise NotFound("No user has this e-mail.", code="user_not_found")
    return user


async def list_users(session: AsyncSession, *, limit: int = 100, offset: int = 0) -> list[User]:
    return await repository.list_page(session, limit=limit, offset=offset)


async def set_active(
    session: AsyncSession, *, user_id: str, active: bool, context: RequestContext
) -> User:
    """Activate or deactivate; deactivation also ends every session at once (DESIGN 7)."""
    user = await get(session, user_id=user_id)
    if user.is_active == active:
        return user
    user.is_active = active
    user.updated_at = utcnow()
    revoked = 0 if active else await sessions.revoke_all(session, user_id=user_id)
    await record(
        session,
        action=AuditAction.USER_ACTIVATED if active else AuditAction.USER_DEACTIVATED,
        resource=AuditResource.USER,
        context=context,
        user_id=user_id,
        details=None if active else {"sessionsRevoked": revoked},
    )
    await session.flush()
    return user


async def delete_user(session: AsyncSession, *, user_id: str, context: RequestContext) -> None:
    """Delete the account (profile, sessions and audit rows cascade, per the spec), then record
    a system USER_DELETED row that keeps only a digest of the e-mail (DESIGN 9)."""
    user = await get(session, user_id=user_id)
    digest = email_digest(user.email)
    # The cascade leaves a trace of each row it removes (audit_removals); the count, sealed in
    # this USER_DELETED row, lets `audit verify` tell that trace from a forged one.
    removed = await count_user_rows(session, user_id=user_id)
    await repository.delete(session, user)
    await record(
        session,
        action=AuditAction.USER_DELETED,
        resource=AuditResource.USER,
        context=context,
        user_id=None,
        details={"deletedUserId": user_id, "emailDigest": digest, "auditRowsRemoved": removed},
    )


# -- self-service: the signed-in user's own account ----------------------------------------------

_EDITABLE_NAMES = ("first_name", "last_name")


async def update_names(
    session: AsyncSession, *, user: User, changes: Mapping[str, str | None], context: RequestContext
) -> User:
    """Change the names sent (None clears); USER_UPDATED lists the fields that really changed."""
    cleaned = {
        name: clean_name(changes[name], to_camel(name))
        for name in _EDITABLE_NAMES
        if name in changes
    }
    changed = [name for name, value in cleaned.items() if getattr(user, name) != value]
    if not changed:
        return user
    for name in changed:
        setattr(user, name, cleaned[name])
    user.updated_at = utcnow()
    await session.flush()
    await record(
        session,
        action=AuditAction.USER_UPDATED,
        resource=AuditResource.USER,
        context=context,
        user_id=user.id,
        details={"fields": [to_camel(name) for name in changed]},
    )
    return user


async def delete_own_account(
    session: AsyncSession, *, user: User, password: str, context: RequestContext
) -> None:
    """Delete the account once its password is confirmed (Forbidden `invalid_password`)."""
    check_length(password)
    if not await verify_password(password, user.password):
        raise Forbidden(
            "The password is not correct.", code="invalid_password", details=[{"field": "password"}]
        )
    await delete_user(session, user_id=user.id, context=context)


@dataclass(frozen=True)
class AccountData:
    """Everything held about one user (a right-of-access request)."""

    user: User
    profile: UserProfile | None
    sessions: list[Session]
    audit_logs: list[AuditLog]


async def export_account(snapshot: AsyncSession, *, user_id: str) -> AccountData:
    """The account, its profile, its live sessions and its whole audit trail, as they stood at
    one moment: `snapshot` reads them all in one transaction's snapshot, so an action taken
    meanwhile appears everywhere (its row and its audit row) or nowhere."""
    return AccountData(
        user=await get(snapshot, user_id=user_id),
        profile=await profiles.find(snapshot, user_id=user_id),
        sessions=await sessions.list_live(snapshot, user_id=user_id),
        audit_logs=await full_trail(snapshot, user_id=user_id),
    )
