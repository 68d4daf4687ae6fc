"""Pages anyone may reach: `/account/register`, the links the mails hold (`/verify-email`,
`/reset-password`), and `/account/forgot-password`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from pe_portal.auth import email_flows
from pe_portal.auth.email_tokens import Purpose
from pe_portal.console import csrf, forms, messages, pages
from pe_portal.console.errors import ConsoleRoute, retry_headers
from pe_portal.console.visitor import ContextDep, VisitorDep
from pe_portal.db.engine import unit_of_work
from pe_portal.errors import Conflict, Gone, InvalidInput, NotFound, PortalError, Unavailable
from pe_portal.http.errors import status_for
from pe_portal.users import service as users

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

_LINK_ERRORS = (NotFound, Gone)


def _with_problem(
    request: Request, template: str, error: PortalError, form: forms.Form, **context: Any
) -> Response:
    """The form again: a field's problem beside it when the refusal names one, else above."""
    lang = pages.language(request)
    text = messages.describe(error, lang)
    # A field the form has gets the message beside it; any other problem is said above.
    form.errors.update({name: text for name in forms.fields_named(error) if name in form.values})
    response = pages.render(
        request, template, status=status_for(type(error)), form=form,
        problem=None if form.errors else text, **context,
    )  # fmt: skip
    response.headers.update(retry_headers(error))
    return response


@router.get("/account/register")
async def register_page(request: Request) -> Response:
    return pages.render(request, "register.html", form=forms.Form({}))


@router.post("/account/register", dependencies=[Depends(csrf.check)])
async def register(request: Request, context: ContextDep) -> Response:
    """The account, and a first verification mail in the same transaction."""
    form = await forms.read(request)
    state = request.app.state
    try:
        async with unit_of_work(state.sessionmaker) as session:
            user = await users.create_user(
                session, email=form.get("email"), password=form.get("password"),
                first_name=form.optional("firstName"), last_name=form.optional("lastName"),
                context=context, settings=state.settings,
            )  # fmt: skip
            await email_flows.request_verification(
                session, user=user, context=context, settings=state.settings
            )
    except (InvalidInput, Conflict, Unavailable) as error:
        return _with_problem(request, "register.html", error, form)
    return pages.redirect(request, "/account/sign-in", done="registered", email=user.email)


def _token(request: Request) -> str:
    return request.query_params.get("token", "")[: forms.MAX_FIELD * 4]


async def _link_refused(request: Request, purpose: Purpose, token: str) -> PortalError | None:
    state = request.app.state
    try:
        async with unit_of_work(state.read_sessionmaker) as session:
            await email_flows.check_link(
                session, purpose=purpose, token=token, settings=state.settings
            )
    except _LINK_ERRORS as error:
        return error
    return None


def _dead_link(request: Request, error: PortalError, *, purpose: Purpose) -> Response:
    return pages.render(
        request, "dead_link.html", status=status_for(type(error)),
        problem=messages.describe(error, pages.language(request)),
        reset=purpose is Purpose.RESET_PASSWORD,
    )  # fmt: skip


@router.get("/verify-email")
async def verify_email_page(request: Request) -> Response:
    """A button, not an action: mail scanners open links, and a GET must change nothing."""
    token = _token(request)
    refused = await _link_refused(request, Purpose.VERIFY_EMAIL, token)
    if refused is not None:
        return _dead_link(request, refused, purpose=Purpose.VERIFY_EMAIL)
    return pages.render(request, "verify_email.html", token=token)


@router.post("/verify-email", dependencies=[Depends(csrf.check)])
async def verify_email(request: Request, context: ContextDep) -> Response:
    form = await forms.read(request)
    state = request.app.state
    try:
        async with unit_of_work(state.sessionmaker) as session:
            await email_flows.verify_email(
                session, token=form.get("token"), context=context, settings=state.settings
            )
    except _LINK_ERRORS as error:
        return _dead_link(request, error, purpose=Purpose.VERIFY_EMAIL)
    return pages.redirect(request, "/account", done="verified")


@router.post("/account/verify-email/resend", dependencies=[Depends(csrf.check)])
async def resend_verification(
    request: Request, visitor: VisitorDep, context: ContextDep
) -> Response:
    state = request.app.state
    async with unit_of_work(state.sessionmaker) as session:
        user = await users.get(session, user_id=visitor.user_id)
        await email_flows.request_verification(
            session, user=user, context=context, settings=state.settings
        )
    return pages.redirect(request, "/account", done="verification_sent")


@router.get("/account/forgot-password")
async def forgot_page(request: Request) -> Response:
    return pages.render(request, "forgot_password.html", form=forms.Form({}))


@router.post("/account/forgot-password", dependencies=[Depends(csrf.check)])
async def forgot(request: Request, context: ContextDep) -> Response:
    """The same answer whether or not an account has the address (no enumeration)."""
    form = await forms.read(request)
    state = request.app.state
    try:
        async with unit_of_work(state.sessionmaker) as session:
            await email_flows.forgot_password(
                session, email=form.get("email"), context=context, settings=state.settings
            )
    except InvalidInput as error:
        return _with_problem(request, "forgot_password.html", error, form)
    return pages.redirect(request, "/account/sign-in", done="reset_sent")


@router.get("/reset-password")
async def reset_page(request: Request) -> Response:
    token = _token(request)
    refused = await _link_refused(request, Purpose.RESET_PASSWORD, token)
    if refused is not None:
        return _dead_link(request, refused, purpose=Purpose.RESET_PASSWORD)
    return pages.render(request, "reset_password.html", token=token, form=forms.Form({}))


@router.post("/reset-password", dependencies=[Depends(csrf.check)])
async def reset(request: Request, context: ContextDep) -> Response:
    form = await forms.read(request)
    state = request.app.state
    token = form.get("token")
    try:
        async with unit_of_work(state.sessionmaker) as session:
            await email_flows.reset_password(
                session, token=token, new_password=form.get("newPassword"), context=context,
                settings=state.settings,
            )  # fmt: skip
    except _LINK_ERRORS as error:
        return _dead_link(request, error, purpose=Purpose.RESET_PASSWORD)
    except (InvalidInput, Unavailable) as error:
        return _with_problem(request, "reset_password.html", error, form, token=token)
    return pages.redirect(request, "/account/sign-in", done="password_reset")
