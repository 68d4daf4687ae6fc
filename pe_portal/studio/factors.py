"""The studio's second-factor page: every account's factors, never a secret, and the reset an
operator makes for someone who lost their device (UserAdmin's "Reset second factor")."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.context import RequestContext
from pe_portal.mfa import service as mfa
from pe_portal.mfa.models import MfaFactor
from pe_portal.studio.base import StudioView
from pe_portal.studio.display import timestamps, user_link
from pe_portal.users import service as users


class MfaFactorAdmin(StudioView, model=MfaFactor):
    name, name_plural, icon = "Second factor", "Second factors", "fa-solid fa-shield-halved"
    # The sealed seed and the passkey's key material are never loaded, let alone shown.
    secret_columns = (MfaFactor.secret, MfaFactor.public_key, MfaFactor.credential_id)
    column_list: ClassVar[list[Any]] = [
        MfaFactor.user_id,
        MfaFactor.type,
        MfaFactor.name,
        MfaFactor.confirmed_at,
        MfaFactor.last_used_at,
        MfaFactor.created_at,
    ]
    column_details_list: ClassVar[list[Any]] = [MfaFactor.id, *column_list]
    column_export_list: ClassVar[list[Any]] = column_details_list
    column_searchable_list: ClassVar[list[Any]] = [MfaFactor.user_id, MfaFactor.name]
    column_sortable_list: ClassVar[list[Any]] = [MfaFactor.created_at, MfaFactor.last_used_at]
    column_default_sort = (MfaFactor.created_at, True)
    column_formatters: ClassVar[dict[Any, Any]] = {
        MfaFactor.user_id: user_link,
        **timestamps(MfaFactor.confirmed_at, MfaFactor.last_used_at, MfaFactor.created_at),
    }
    column_formatters_detail = column_formatters


async def reset_factors(session: AsyncSession, user_id: str, context: RequestContext) -> int:
    """Remove every factor of the account (audited with the operator, the user mailed)."""
    user = await users.get(session, user_id=user_id)
    return await mfa.reset(session, user=user, context=context)
