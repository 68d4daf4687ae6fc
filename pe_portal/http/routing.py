"""Routes that document their own errors: every status an operation can answer, derived from
the error kinds its handler and dependencies declare (`http.errors.raises`), the one status
table, and what the edge answers for any body or parameter. No status is written by hand."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi import params
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute

from pe_portal import errors
from pe_portal.http.errors import Error, status_for

# What every operation can answer, whatever it declares (the middleware and the error map).
_ALWAYS = {
    500: "An unexpected error (`internal_error`), naming the request id to quote.",
    503: "The database is unavailable (`database_unavailable`) or the service is busy; see "
    "`Retry-After`.",
}
_WITH_BODY = {
    400: "The body is not valid JSON (`malformed_json`), Content-Length is malformed, or the "
    "address holds a NUL character (`bad_request`).",
    413: "The body is larger than MAX_BODY_BYTES (`payload_too_large`).",
    415: "The body is not of the documented media type (`unsupported_media_type`).",
}
_NUL_IN_ADDRESS = "The address holds a NUL character (`bad_request`): no id or search can."
_VALIDATION = (
    "A field is missing or invalid (`validation_error`, the fields in `details`), or a rule the "
    "schema cannot state refused the input (`code` names it)."
)
_DESCRIPTIONS = {
    401: "Not signed in: the access token is missing, invalid or expired, or its session ended.",
    403: "Signed in, but not allowed to do this.",
    404: "No such resource (or a link token that matches nothing).",
    409: "Conflicts with the current state (e.g. `email_taken`).",
    410: "No longer valid (e.g. an expired link: `token_expired`).",
    422: "A rule the schema cannot state refused the input (`code` names it).",
    429: "Too many requests or sign-in attempts; see `Retry-After`.",
    503: "Busy or unavailable; see `Retry-After`.",
}


def declared_kinds(dependant: Dependant) -> Iterator[type[errors.PortalError]]:
    """The error kinds declared by a call and by everything it depends on."""
    yield from getattr(dependant.call, "__raises__", ())
    for dependency in dependant.dependencies:
        yield from declared_kinds(dependency)


def _takes_input(dependant: Dependant, *, body: bool = True) -> bool:
    """Whether the operation reads input: a path or query parameter, or (`body`) a body."""
    if (body and dependant.body_params) or dependant.query_params or dependant.path_params:
        return True
    return any(_takes_input(dependency, body=body) for dependency in dependant.dependencies)


def error_statuses(dependant: Dependant, methods: Sequence[str]) -> dict[int, str]:
    """Each status the operation can answer with the error shape, and why."""
    statuses = dict(_ALWAYS)
    if _takes_input(dependant, body=False):
        statuses[400] = _NUL_IN_ADDRESS
    if {"POST", "PUT", "PATCH", "DELETE"} & set(methods):
        statuses.update(_WITH_BODY)
    for kind in declared_kinds(dependant):
        status = status_for(kind)
        statuses[status] = _DESCRIPTIONS.get(status, kind.message)
    if _takes_input(dependant):
        statuses[422] = _VALIDATION
    return dict(sorted(statuses.items()))


class DocumentedRoute(APIRoute):
    """An APIRoute whose document lists its error statuses with the shared `Error` schema.
    Statuses a route documents itself (the OAuth endpoint's RFC 6749 errors) are kept."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        responses: dict[int | str, dict[str, Any]] | None = None,
        dependencies: Sequence[params.Depends] | None = None,
        methods: set[str] | list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        dependant = get_dependant(path=path, call=endpoint)
        for depends in dependencies or ():
            if depends.dependency is not None:
                dependant.dependencies.append(get_dependant(path=path, call=depends.dependency))
        documented: dict[int | str, dict[str, Any]] = {
            status: {"model": Error, "description": description}
            for status, description in error_statuses(dependant, list(methods or ())).items()
        }
        for status, response in (responses or {}).items():
            documented[status] = {**documented.get(status, {}), **response}
        super().__init__(
            path, endpoint, responses=documented, dependencies=dependencies, methods=methods,
            **kwargs,
        )  # fmt: skip
