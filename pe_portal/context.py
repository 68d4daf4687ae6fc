"""Who caused an event and from where: built by the HTTP layer, the CLI and the studio, and
carried into the services that record audit rows and send notices."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    """Who caused an event and from where: the client IP and user agent of the request or CLI."""

    ip_address: str | None = None
    user_agent: str | None = None
    actor: str | None = None  # an operator's name when the event comes from the CLI or studio


SYSTEM = RequestContext(actor="system")
