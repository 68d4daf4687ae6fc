"""The one place where a console page's failures become pages: the status of the error kind (the
API's table, `http.errors.STATUS_BY_KIND`), a readable message in the person's language, never
a traceback. Forms catch the errors they can show beside a field; everything else lands here."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from pe_portal import errors, i18n
from pe_portal.console import cookies, messages, pages
from pe_portal.db.engine import is_unavailable
from pe_portal.http.errors import status_for

log = logging.getLogger("pe_portal.console")
ENROLMENT_PAGE = "/account/security"


class SignInRequired(Exception):
    """No live browser session: the page sends the visitor to sign in, and back afterwards."""


class EnrolmentRequired(Exception):
    """MFA_ENFORCE, and the account signed in without a second factor: the security page only."""


def retry_headers(error: Exception) -> dict[str, str]:
    retry_after = getattr(error, "retry_after", None)
    if isinstance(error, errors.Unavailable) and retry_after is None:
        retry_after = 1
    return {"Retry-After": str(retry_after)} if retry_after is not None else {}


def error_page(request: Request, *, status: int, message: str, headers: dict[str, str]) -> Response:
    response = pages.render(
        request, "error.html", status=status, problem=message, status_code=status
    )
    response.headers.update(headers)
    return response


def portal_error_page(request: Request, error: errors.PortalError) -> Response:
    lang = pages.language(request)
    return error_page(
        request, status=status_for(type(error)), message=messages.describe(error, lang),
        headers=retry_headers(error),
    )  # fmt: skip


def http_error_page(request: Request, status: int) -> Response:
    lang = pages.language(request)
    return error_page(request, status=status, message=messages.for_status(status, lang), headers={})


def unexpected_error_page(request: Request, error: Exception) -> Response:
    request_id = request.scope.get("state", {}).get("request_id", "-")
    lang = pages.language(request)
    if is_unavailable(error):
        log.warning("database unavailable: %s", type(error).__name__)
        return error_page(
            request, status=503, message=messages.for_status(503, lang),
            headers={"Retry-After": "1"},
        )  # fmt: skip
    log.exception("unhandled error on a console page (request %s)", request_id, exc_info=error)
    message = i18n.translations(lang).gettext(
        "Something went wrong on our side. Quote request id %(id)s when reporting it."
    ) % {"id": request_id}
    return error_page(request, status=500, message=message, headers={})


def not_signed_in(request: Request) -> Response:
    cookies.forget_session(request)
    target = request.url.path
    if request.url.query:
        target += f"?{request.url.query}"
    return pages.redirect(request, "/account/sign-in", next=target)


async def guard(request: Request, call: Callable[[], Awaitable[Response]]) -> Response:
    try:
        return await call()
    except SignInRequired:
        return not_signed_in(request)
    except EnrolmentRequired:
        return pages.redirect(request, ENROLMENT_PAGE)
    except errors.PortalError as error:
        return portal_error_page(request, error)
    except RequestValidationError:
        return http_error_page(request, 422)
    except HTTPException as error:
        return http_error_page(request, error.status_code)
    except Exception as error:  # a page never shows a traceback
        return unexpected_error_page(request, error)


class ConsoleRoute(APIRoute):
    """Every console route: whatever its handler raises becomes a page (see `guard`)."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            return await guard(request, lambda: handler(request))

        return guarded
