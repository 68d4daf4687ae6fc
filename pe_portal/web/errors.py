"""The one place where errors become HTTP responses: `{"error": {code, message, details}}`."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from pe_portal import errors
from pe_portal.auth.oauth import OAuthError
from pe_portal.console import errors as console_errors
from pe_portal.console import routes as console
from pe_portal.db.engine import is_unavailable
from pe_portal.http.errors import status_for

log = logging.getLogger("pe_portal.web")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        jsonable_encoder(error_body(code, message, details)), status_code=status, headers=headers
    )


async def _portal_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, errors.PortalError)  # noqa: S101 - registered for this type only
    headers = None
    if isinstance(error, errors.RateLimited | errors.Unavailable):
        retry_after = getattr(error, "retry_after", 1)
        headers = {"Retry-After": str(retry_after)}
    if isinstance(error, errors.Unauthenticated):
        headers = {"WWW-Authenticate": "Bearer"}
    if isinstance(error, errors.StepUpRequired):
        headers = {
            "WWW-Authenticate": 'Bearer error="insufficient_user_authentication", '
            f'error_description="A recent second-factor sign-in is required", '
            f'acr_values="aal2", max_age={error.max_age}'
        }
    return error_response(
        status_for(type(error)), error.code, error.message, error.details, headers
    )


def _field_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(part) for part in item.get("loc", ()) if part != "body"),
            "message": item.get("msg", ""),
            "type": item.get("type", ""),
        }
        for item in error.errors()
    ]


async def _oauth_error(request: Request, error: Exception) -> JSONResponse:
    """RFC 6749 §5.2 body for the token endpoint, so standard OAuth clients understand it."""
    assert isinstance(error, OAuthError)  # noqa: S101
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    body = {"error": error.code, "error_description": error.message, **error.extra}
    return JSONResponse(body, status_code=error.status, headers=headers)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)  # noqa: S101
    if any(item.get("type") == "json_invalid" for item in error.errors()):
        return error_response(400, "malformed_json", "The request body is not valid JSON.")
    return error_response(
        422, "validation_error", "Some fields are not valid.", _field_errors(error)
    )


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)  # noqa: S101
    if console.serves(request.url.path):  # a person's browser: a page, in their language
        return console_errors.http_error_page(request, error.status_code)
    code = _HTTP_CODES.get(error.status_code, "http_error")
    headers = dict(error.headers or {})
    if error.status_code == 405 and (methods := allowed_methods(request)):
        headers["Allow"] = ", ".join(methods)
    return error_response(error.status_code, code, str(error.detail), headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method the document gives the path: Starlette names only the first route's, and
    `/users/me` is three routes (GET, PATCH, DELETE). A path outside the document keeps what
    Starlette said."""
    path = request.scope["path"]
    for pattern, methods in _documented_paths(request.app):
        if pattern.fullmatch(path):
            return methods
    return []


def _documented_paths(app: FastAPI) -> list[tuple[re.Pattern[str], list[str]]]:
    cached: list[tuple[re.Pattern[str], list[str]]] | None = getattr(
        app.state, "documented_paths", None
    )
    if cached is None:
        cached = [
            (re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))),
             sorted(method.upper() for method in operations))
            for template, operations in app.openapi()["paths"].items()
        ]  # fmt: skip
        app.state.documented_paths = cached
    return cached


async def _database_unavailable(request: Request, error: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(error).__name__)
    return error_response(
        503,
        "database_unavailable",
        "The database is unavailable; try again shortly.",
        headers={"Retry-After": "1"},
    )


async def _dbapi_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, sa_exc.DBAPIError)  # noqa: S101
    if is_unavailable(error):
        return await _database_unavailable(request, error)
    return await unexpected_error(request, error)


async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    """A generic 500 naming the request id; the traceback goes to the log, never the client.
    (Exceptions nobody maps reach `PortalMiddleware`, which answers the same way.)"""
    request_id = request.scope.get("state", {}).get("request_id", "-")
    log.exception("unhandled error (request %s)", request_id, exc_info=error)
    return error_response(
        500,
        "internal_error",
        f"An unexpected error occurred. Quote request id {request_id} when reporting it.",
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.PortalError, _portal_error)
    app.add_exception_handler(OAuthError, _oauth_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sa_exc.TimeoutError, _database_unavailable)
    app.add_exception_handler(sa_exc.DBAPIError, _dbapi_error)
    app.add_exception_handler(ConnectionError, _database_unavailable)
