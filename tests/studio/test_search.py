"""The studio's search pages: users by name or e-mail fragment (typos forgiven), audit rows by the
start of an IP, a fragment of the user agent or words of the details; the pager of a search.
Its plans on realistic data: test_search_plans.py."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from tests.studio.conftest import make_user


async def test_users_are_found_despite_a_typo(
    operator: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    ada = await make_user(engine, settings, first_name="Ada", last_name="Lovelace")
    grace = await make_user(engine, settings, first_name="Grace", last_name="Hopper")
    typo = (await operator.get("/admin/user/list", params={"search": "Lovelase"})).text
    assert ada.email in typo
    assert grace.email not in typo
    fragment = (await operator.get("/admin/user/list", params={"search": "hopp"})).text
    assert grace.email in fragment
    assert ada.email not in fragment


async def test_audit_rows_are_found_by_ip_agent_or_details(
    operator: httpx.AsyncClient, owner_engine: AsyncEngine
) -> None:
    async with owner_engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO audit_logs (id, action, details, ip_address, user_agent) VALUES"
                " ('found-ip', 'LOGIN', NULL, '203.0.113.77', 'curl/8'),"
                " ('found-agent', 'LOGIN', NULL, '198.51.100.1', 'Mozilla/5.0 Safari/605'),"
                " ('found-words', 'USER_UPDATED', '{\"note\": \"quarterly statement\"}', NULL, NULL)"
            )
        )
    for term, expected in (
        ("203.0.113", {"found-ip"}),
        ("203.0.113.77", {"found-ip"}),
        ("113.77", set()),  # an address is searched by its start: a network, not digits inside
        ("safari", {"found-agent"}),
        ("quarterly", {"found-words"}),
    ):
        page = (await operator.get("/admin/audit-log/list", params={"search": term})).text
        found = {row for row in ("found-ip", "found-agent", "found-words") if row in page}
        assert found == expected, term
    odd = await operator.get("/admin/audit-log/list", params={"search": "' OR 1=1 --%_" * 800})
    assert odd.status_code == 200
    nul = await operator.get("/admin/audit-log/list", params={"search": "a\x00b"})
    assert nul.status_code == 400
    assert "NUL" in nul.text
    in_path = await operator.get("/admin/audit-log/details/a%00b")  # a 500 once
    assert in_path.status_code == 400


async def test_a_search_page_counts_to_the_next_page_and_pages_on(
    operator: httpx.AsyncClient, owner_engine: AsyncEngine, committed: None
) -> None:
    """30 matches, 25 a page: page 1 says there is more (26 counted) and page 2 holds the other
    5, newest first throughout, as the one-query search would list them."""
    async with owner_engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO audit_logs (id, action, user_agent, created_at) SELECT 'pager-' || g,"
                " 'LOGIN', 'PagerAgent/1', timestamp '2026-11-01' + make_interval(mins => g)"
                " FROM generate_series(1, 30) g"
            )
        )
    first = (await operator.get("/admin/audit-log/list", params={"search": "PagerAgent"})).text
    assert "Showing 1 to 25 of 26 items" in first
    assert set(re.findall(r"pager-\d+", first)) == {f"pager-{n}" for n in range(6, 31)}
    second = await operator.get(
        "/admin/audit-log/list", params={"search": "PagerAgent", "page": "2"}
    )
    assert "Showing 26 to 30 of 30 items" in second.text
    assert set(re.findall(r"pager-\d+", second.text)) == {f"pager-{n}" for n in range(1, 6)}


async def test_a_filtered_search_is_the_two_step_search_too(
    operator: httpx.AsyncClient, owner_engine: AsyncEngine, committed: None
) -> None:
    """The action filter narrows the same search (and its pager counts to the next page)."""
    async with owner_engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO audit_logs (id, action, user_agent, created_at) SELECT 'kind-' || g,"
                " (ARRAY['LOGIN', 'LOGOUT'])[g % 2 + 1], 'KindAgent/1',"
                " timestamp '2026-11-01' + make_interval(mins => g) FROM generate_series(1, 8) g"
            )
        )
    page = await operator.get(
        "/admin/audit-log/list", params={"search": "KindAgent", "action": "LOGOUT"}
    )
    assert "Showing 1 to 4 of 4 items" in page.text
    assert set(re.findall(r"kind-\d+", page.text)) == {"kind-1", "kind-3", "kind-5", "kind-7"}
