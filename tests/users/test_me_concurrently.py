"""Many users reading at once, on the real pool: the principal checks of concurrent requests
are answered together, and each request still gets exactly its own answer."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import SignedIn, signed_in_user

ME = "/api/v1/users/me"


async def test_concurrent_reads_each_get_their_own_account_or_their_own_401(
    live_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    ada, grace, signed_out, deactivated = [await signed_in_user(live_client) for _ in range(4)]
    assert (
        await live_client.post("/api/v1/auth/logout", headers=signed_out.headers)
    ).status_code == 204
    async with engine.begin() as db:
        await db.execute(
            text("UPDATE users SET is_active = false WHERE id = :id"),
            {"id": deactivated.user["id"]},
        )

    readers: list[SignedIn] = [ada, grace, signed_out, deactivated] * 15
    answers = await asyncio.gather(*(live_client.get(ME, headers=r.headers) for r in readers))

    seen: dict[str, set[tuple[int, str]]] = defaultdict(set)
    for reader, answer in zip(readers, answers, strict=True):
        body = answer.json()
        seen[reader.email].add(
            (
                answer.status_code,
                body["email"] if answer.status_code == 200 else body["error"]["code"],
            )
        )
    assert seen == {
        ada.email: {(200, ada.email)},
        grace.email: {(200, grace.email)},
        signed_out.email: {(401, "session_revoked")},
        deactivated.email: {(401, "session_revoked")},
    }
