"""Edits in the studio's forms: validated like the API, saved by the services, audited."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.audit.models import AuditAction
from pe_portal.config import Settings
from pe_portal.db.engine import create_sessionmaker
from pe_portal.profiles.models import UserProfile
from pe_portal.users.models import User
from tests.studio.conftest import audit_rows, fetch_user, make_user

SAVE = {"save": "Save"}


async def _profile(engine: AsyncEngine, user: User) -> UserProfile:
    async with create_sessionmaker(engine)() as session:
        profile = await session.get(UserProfile, await _profile_id(engine, user))
        assert profile is not None
        return profile


async def _profile_id(engine: AsyncEngine, user: User) -> str:
    async with create_sessionmaker(engine)() as session:
        found = await session.scalar(select(UserProfile.id).where(UserProfile.user_id == user.id))
        assert found is not None
        return found


async def test_names_are_edited_through_the_service_and_audited(
    operator: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    user = await make_user(engine, settings, first_name="Ada", last_name="Lovelace")
    digest = (await fetch_user(engine, user.id)).password
    form = await operator.get(f"/admin/user/edit/{user.id}")
    assert form.status_code == 200
    assert 'name="first_name"' in form.text
    assert 'name="password"' not in form.text
    assert digest not in form.text

    saved = await operator.post(
        f"/admin/user/edit/{user.id}", data={"first_name": " Augusta ", "last_name": "", **SAVE}
    )
    assert saved.status_code == 302, saved.text
    after = await fetch_user(engine, user.id)
    assert (after.first_name, after.last_name) == ("Augusta", None)
    [row] = await audit_rows(engine, user.id, AuditAction.USER_UPDATED)
    assert row.details == {"actor": "studio:alice", "fields": ["firstName", "lastName"]}


async def test_a_name_the_api_would_refuse_is_refused_and_nothing_is_saved(
    operator: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    user = await make_user(engine, settings, first_name="Ada")
    response = await operator.post(
        f"/admin/user/edit/{user.id}", data={"first_name": "x" * 101, "last_name": "", **SAVE}
    )
    assert response.status_code == 400
    assert "firstName must be at most 100 printable characters." in response.text
    assert (await fetch_user(engine, user.id)).first_name == "Ada"
    assert await audit_rows(engine, user.id, AuditAction.USER_UPDATED) == []


async def test_profile_fields_are_normalised_like_the_api_and_audited(
    operator: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    user = await make_user(engine, settings)
    profile_id = await _profile_id(engine, user)
    form = {
        "phone": "+33 1 23 45 67 89",
        "avatar": "",
        "timezone": "europe/paris",
        "language": "en-gb",
        "preferences": '{"theme": "dark"}',
        **SAVE,
    }
    saved = await operator.post(f"/admin/user-profile/edit/{profile_id}", data=form)
    assert saved.status_code == 302, saved.text
    profile = await _profile(engine, user)
    assert (profile.phone, profile.timezone, profile.language) == (
        "+33123456789",
        "Europe/Paris",
        "en-GB",
    )
    assert profile.preferences == {"theme": "dark"}
    [row] = await audit_rows(engine, user.id, AuditAction.PROFILE_UPDATED)
    assert row.details == {
        "actor": "studio:alice",
        "fields": ["phone", "timezone", "language", "preferences"],
    }


async def test_an_invalid_profile_field_is_named_and_nothing_is_saved(
    operator: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    user = await make_user(engine, settings)
    profile_id = await _profile_id(engine, user)
    form = {
        "phone": "12",
        "avatar": "",
        "timezone": "UTC",
        "language": "en",
        "preferences": "",
        **SAVE,
    }
    response = await operator.post(f"/admin/user-profile/edit/{profile_id}", data=form)
    assert response.status_code == 400
    assert "phone: Value error, must be an international phone number" in response.text
    assert (await _profile(engine, user)).phone is None
    assert await audit_rows(engine, user.id, AuditAction.PROFILE_UPDATED) == []


async def test_saving_a_profile_form_unchanged_changes_nothing(
    operator: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    user = await make_user(engine, settings)
    profile_id = await _profile_id(engine, user)
    page = (await operator.get(f"/admin/user-profile/edit/{profile_id}")).text
    shown = re.search(r'<textarea[^>]*name="preferences"[^>]*>(.*?)</textarea>', page, re.DOTALL)
    assert shown is not None
    assert shown.group(1).strip() == ""
    form = {
        "phone": "",
        "avatar": "",
        "timezone": "UTC",
        "language": "en",
        "preferences": "",
        **SAVE,
    }
    saved = await operator.post(f"/admin/user-profile/edit/{profile_id}", data=form)
    assert saved.status_code == 302, saved.text
    assert (await _profile(engine, user)).preferences is None
    assert await audit_rows(engine, user.id, AuditAction.PROFILE_UPDATED) == []
