"""The domain's error kinds. Services raise these; `web.errors` maps them to HTTP in one place."""

from __future__ import annotations

from typing import Any


class PortalError(Exception):
    """A failure a client can act on: a stable `code`, a readable `message`, optional `details`."""

    code = "error"
    message = "The request could not be completed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Any = None,
        keep_changes: bool = False,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details
        # Most failures roll the unit of work back. Some must still commit what they recorded
        # (a LOGIN_FAILED row, a session revoked for token reuse) while the client gets the error.
        self.keep_changes = keep_changes
        super().__init__(self.message)


class InvalidInput(PortalError):
    code = "invalid_input"
    message = "The request is not valid."


class Unauthenticated(PortalError):
    code = "unauthenticated"
    message = "Authentication is required."


class Forbidden(PortalError):
    code = "forbidden"
    message = "You are not allowed to do this."


class NotFound(PortalError):
    code = "not_found"
    message = "Not found."


class Gone(PortalError):
    """Something that existed and no longer does: an expired link."""

    code = "gone"
    message = "This is no longer available."


class Conflict(PortalError):
    code = "conflict"
    message = "The request conflicts with the current state."


class RateLimited(PortalError):
    code = "rate_limited"
    message = "Too many requests; try again later."

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int,
        code: str | None = None,
        keep_changes: bool = False,
    ) -> None:
        super().__init__(
            message, code=code, details={"retryAfter": retry_after}, keep_changes=keep_changes
        )
        self.retry_after = retry_after


class Unavailable(PortalError):
    code = "service_unavailable"
    message = "The service is temporarily unavailable; try again shortly."

    def __init__(
        self, message: str | None = None, *, code: str | None = None, retry_after: int = 1
    ) -> None:
        super().__init__(message, code=code, details={"retryAfter": retry_after})
        self.retry_after = retry_after


class StepUpRequired(Forbidden):
    """RFC 9470: the action needs a fresher or stronger sign-in (`acr_values`, `max_age`)."""

    code = "step_up_required"
    message = "This needs a recent sign-in with your second factor; sign in again."

    def __init__(self, *, max_age: int) -> None:
        super().__init__(details={"acrValues": "aal2", "maxAge": max_age})
        self.max_age = max_age
