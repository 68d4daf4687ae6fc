"""`/account`: the profile (names, phone, timezone, language) and the e-mail's status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError

from pe_portal import i18n
from pe_portal.console import csrf, forms, messages, pages
from pe_portal.console.errors import ConsoleRoute
from pe_portal.console.visitor import ContextDep, VisitorDep
from pe_portal.db.engine import unit_of_work
from pe_portal.errors import InvalidInput
from pe_portal.principal import Principal
from pe_portal.profiles import service as profiles
from pe_portal.profiles.fields import time_zones
from pe_portal.profiles.schemas import ProfileUpdate
from pe_portal.users import service as users

router = APIRouter(prefix="/account", route_class=ConsoleRoute, include_in_schema=False)

_NAMES = {"firstName": "first_name", "lastName": "last_name"}
_FIELD_HINTS = {
    "phone": messages.N_("Give the number in international form, for example +41 44 668 18 00."),
    "timezone": messages.N_("Choose a time zone from the list."),
    "language": messages.N_("Choose a language from the list."),
}


async def _page(
    request: Request, visitor: Principal, *, form: forms.Form | None = None, status: int = 200
) -> Response:
    async with unit_of_work(request.app.state.read_sessionmaker) as session:
        profile = await profiles.get(session, user_id=visitor.user_id)
    account = visitor.account
    shown = form or forms.Form({
        "firstName": account.first_name or "", "lastName": account.last_name or "",
        "phone": profile.phone or "", "timezone": profile.timezone, "language": i18n.negotiate(profile.language),
    })  # fmt: skip
    return pages.render(
        request, "account.html", status=status, signed_in=True, account=account, form=shown,
        zones=time_zones(),
    )  # fmt: skip


@router.get("")
async def overview(request: Request, visitor: VisitorDep) -> Response:
    return await _page(request, visitor)


def _profile_changes(form: forms.Form, language: str) -> dict[str, Any]:
    """The profile fields as the API validates them (the same schema), or InvalidInput naming
    each field that is not valid."""
    try:
        update = ProfileUpdate.model_validate({
            "phone": form.optional("phone"), "timezone": form.get("timezone"),
            "language": form.get("language"),
        })  # fmt: skip
    except ValidationError as error:
        gettext = i18n.translations(language).gettext
        fields = {str(item["loc"][0]) for item in error.errors() if item.get("loc")}
        raise InvalidInput(
            "Some fields are not valid.", code="invalid_profile",
            details=[{"field": name, "message": gettext(_FIELD_HINTS.get(name, ""))}
                     for name in sorted(fields)],
        ) from error  # fmt: skip
    return update.model_dump(exclude_unset=True)


@router.post("/profile", dependencies=[Depends(csrf.check)])
async def save_profile(request: Request, visitor: VisitorDep, context: ContextDep) -> Response:
    form = await forms.read(request)
    language = pages.language(request)
    try:
        changes = _profile_changes(form, language)
        async with unit_of_work(request.app.state.sessionmaker) as session:
            user = await users.get(session, user_id=visitor.user_id)
            await users.update_names(
                session, user=user, context=context,
                changes={column: form.optional(name) for name, column in _NAMES.items()},
            )  # fmt: skip
            await profiles.update(
                session, user_id=visitor.user_id, changes=changes, context=context
            )
    except InvalidInput as error:
        form.errors.update(_messages_by_field(error, language))
        return await _page(request, visitor, form=form, status=422)
    return pages.redirect(request, "/account", done="profile_saved")


def _messages_by_field(error: InvalidInput, language: str) -> dict[str, str]:
    described = messages.describe(error, language)
    by_field: dict[str, str] = {}
    for item in error.details if isinstance(error.details, list) else []:
        if isinstance(item, dict) and isinstance(item.get("field"), str):
            by_field[item["field"]] = item.get("message") or described
    return by_field or {"firstName": described}
