"""Security notices: mail telling the owner of an account that something happened to it (a new
device signed in, the password changed, a stolen refresh token was caught, a second factor was
added or removed, a recovery code was used).

A notice is written to the mail outbox in the transaction of the change it reports, so it goes
out exactly when that change commits. A rendering error is logged and never fails the change;
delivery is the outbox's business. Each holds a link to PUBLIC_URL/account/sessions and is
written in the profile's language and timezone.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit import service as audit
from pe_portal.clock import utcnow
from pe_portal.context import RequestContext
from pe_portal.mail import service as mail
from pe_portal.profiles import service as profiles
from pe_portal.users import repository
from pe_portal.users.models import User

log = logging.getLogger("pe_portal.users.notices")


async def send_to(
    session: AsyncSession, *, user: User, template: str, context: Mapping[str, Any]
) -> str:
    """Queue `template` for the user (in their profile's language and timezone) in `session`'s
    transaction; the outbox id."""
    profile = await profiles.find(session, user_id=user.id)
    return await mail.send(
        template,
        session=session,
        to=user.email,
        language=profile.language if profile else None,
        timezone=profile.timezone if profile else None,
        context=context,
    )


async def _notify(
    session: AsyncSession, *, user: User, template: str, context: Mapping[str, Any]
) -> None:
    try:
        await send_to(session, user=user, template=template, context=context)
    except SQLAlchemyError:
        raise  # the transaction itself failed: the change it reports cannot commit either
    except Exception:  # a rendering bug must never fail the change it reports
        log.exception("security notice %s for user %s not queued", template, user.id)


def _device(user_agent: str | None, ip_address: str | None) -> tuple[str | None, int | None]:
    """What identifies a device here: its user agent and its IP family (4 or 6)."""
    try:
        family = ipaddress.ip_address(ip_address).version if ip_address else None
    except ValueError:
        family = None
    return user_agent, family


async def new_device_login(
    session: AsyncSession, *, user: User, session_id: str, context: RequestContext
) -> None:
    """Tell the user about a sign-in from a device none of their earlier sign-ins came from.
    The very first sign-in of an account is no news and sends nothing."""
    earlier = await audit.login_devices(session, user_id=user.id, except_session=session_id)
    device = _device(context.user_agent, context.ip_address)
    if not earlier or device in {_device(agent, ip) for agent, ip in earlier}:
        return
    details = {"user_agent": context.user_agent, "ip_address": context.ip_address, "at": utcnow()}
    await _notify(session, user=user, template="new_device_login", context=details)


async def password_changed(session: AsyncSession, *, user: User) -> None:
    """Tell the user their password changed (by a change or a reset)."""
    await _notify(session, user=user, template="password_changed", context={"at": utcnow()})


async def token_reuse(session: AsyncSession, *, user_id: str) -> None:
    """Tell the user a session was revoked because its refresh token was used twice."""
    user = await repository.get(session, user_id)
    if user is not None:
        await _notify(session, user=user, template="token_reuse", context={"at": utcnow()})


_FACTOR_KINDS = {"totp": "TOTP", "webauthn": "passkey"}


async def factor_changed(
    session: AsyncSession, *, user: User, kind: str, name: str, added: bool,
    by_operator: bool = False,
) -> None:  # fmt: skip
    """Tell the user a second factor was added to or removed from their account."""
    context = {
        "at": utcnow(), "added": added, "kind": _FACTOR_KINDS.get(kind, kind), "name": name,
        "by_operator": by_operator,
    }  # fmt: skip
    await _notify(session, user=user, template="mfa_factor_changed", context=context)


async def recovery_code_used(session: AsyncSession, *, user: User, remaining: int) -> None:
    """Tell the user one of their recovery codes was used to sign in."""
    context = {"at": utcnow(), "remaining": remaining}
    await _notify(session, user=user, template="recovery_code_used", context=context)
