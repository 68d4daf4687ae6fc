"""SQL for user accounts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.users.models import User


async def get(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def get_for_update(session: AsyncSession, user_id: str) -> User | None:
    """The row locked for this transaction and read afresh (not from the identity map)."""
    return await session.get(User, user_id, with_for_update=True, populate_existing=True)


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    """Lookup by normalised e-mail, served by the unique index `idx_users_email`."""
    return await session.scalar(select(User).where(User.email == email))


async def get_active_by_email(session: AsyncSession, email: str) -> User | None:
    """The spec's authentication lookup: an active account by e-mail (single-tenant)."""
    return await session.scalar(select(User).where(User.email == email, User.is_active.is_(True)))


async def add(session: AsyncSession, user: User) -> User:
    session.add(user)
    await session.flush()
    return user


async def list_page(session: AsyncSession, *, limit: int, offset: int) -> list[User]:
    query = select(User).order_by(User.created_at, User.id).limit(limit).offset(offset)
    return list((await session.scalars(query)).all())


async def delete(session: AsyncSession, user: User) -> None:
    await session.delete(user)
    await session.flush()
