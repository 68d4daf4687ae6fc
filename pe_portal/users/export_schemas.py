"""The shape of the data export: everything the portal holds about the user, in one document."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pe_portal.audit.schemas import AuditLogRead
from pe_portal.profiles.schemas import ProfileRead
from pe_portal.schemas import CamelModel
from pe_portal.users.schemas import UserRead

if TYPE_CHECKING:
    from pe_portal.users.service import AccountData


class SessionExport(CamelModel):
    """A live signed-in device, without its refresh-token digest."""

    id: str
    user_agent: str | None
    ip_address: str | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime


class AccountExport(CamelModel):
    exported_at: datetime
    account: UserRead
    profile: ProfileRead | None
    sessions: list[SessionExport]
    audit_logs: list[AuditLogRead]

    @classmethod
    def of(cls, data: AccountData, *, exported_at: datetime) -> AccountExport:
        """The document for `data`, built field by field so nothing unlisted can leak."""
        return cls(
            exported_at=exported_at,
            account=UserRead.model_validate(data.user),
            profile=ProfileRead.model_validate(data.profile) if data.profile else None,
            sessions=[
                SessionExport(
                    id=row.id,
                    user_agent=row.user_agent,
                    ip_address=row.ip_address,
                    created_at=row.created_at,
                    last_used_at=row.updated_at,
                    expires_at=row.expires_at,
                )
                for row in data.sessions
            ],
            audit_logs=[AuditLogRead.model_validate(row) for row in data.audit_logs],
        )
