"""Accounts: creation, activation, deletion — for HTTP, the CLI and the studio alike."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit.models import AuditAction, AuditResource
from pe_portal.audit.service import RequestContext, email_digest, record
from pe_portal.auth.passwords import check_policy, hash_password
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.db.base import new_id
from pe_portal.errors import Conflict, InvalidInput, NotFound
from pe_portal.profiles import service as profiles
from pe_portal.sessions import service as sessions
from pe_portal.users import repository
from pe_portal.users.models import User

MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100


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
    await repository.delete(session, user)
    await record(
        session,
        action=AuditAction.USER_DELETED,
        resource=AuditResource.USER,
        context=context,
        user_id=None,
        details={"deletedUserId": user_id, "emailDigest": digest},
    )
