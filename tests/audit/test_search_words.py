"""The search's cheap test of the details' words (their text must hold each word) never drops a
row the full-text match finds: the same rows with it as without it, on details that are hard to
parse (case, accents, escapes, paths, addresses, hyphens, versions)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from pe_portal.audit.models import AuditLog, row_search_condition

DETAILS = [
    {"note": "Quarterly STATEMENT for Fund II"},
    {"note": "Straße İstanbul ÉCOLE naïve"},
    {"path": "C:\\dir\\file.txt and x\\y", "quote": 'say "hi"\tthere\nnow'},
    {"link": "http://ex.com/p?q=1_2 mail@ex.com foo-bar 10.12.3"},
    {"nested": {"deep": ["capital call", "100%"]}, "n": 42},
    {"sessionId": "s_1", "emailDigest": "ab%cd"},
]
TERMS = [
    "quarterly", "STATEMENT fund", "statement quarterly", "fund iii", "straße", "école",
    "ÉCOLE", "İstanbul", "naïve", "file.txt", "dir", "x", "hi", "there", "ex.com",
    "mail@ex.com", "foo-bar", "bar", "10.12.3", "10.12", "capital call", "100%", "42", "s_1",
    "ab%cd", "sessionId", "%", "_", "\\", "' OR 1=1 --", "",
]  # fmt: skip


@pytest.fixture
async def rows(db_session: AsyncSession) -> None:
    for number, details in enumerate(DETAILS):
        await db_session.execute(
            text(
                "INSERT INTO audit_logs (id, action, details) VALUES (:id, 'LOGIN', CAST(:d AS jsonb))"
            ),
            {"id": f"words-{number}", "d": json.dumps(details)},
        )


def _full_text(term: str) -> object:
    """The details' words, matched by the full-text parse alone."""
    simple: ColumnElement[str] = literal_column("'simple'::regconfig")
    parsed = func.to_tsvector(
        simple, func.coalesce(AuditLog.details, literal_column("'{}'::jsonb"))
    )
    return or_(AuditLog.user_id == term, parsed.op("@@")(func.plainto_tsquery(simple, term)))


@pytest.mark.parametrize("term", TERMS)
async def test_the_words_test_keeps_every_full_text_match(
    db_session: AsyncSession, rows: None, term: str
) -> None:
    ids = select(AuditLog.id).where(AuditLog.id.like("words-%"))
    expected = set(await db_session.scalars(ids.where(_full_text(term))))  # type: ignore[arg-type]
    found = set(await db_session.scalars(ids.where(row_search_condition(term))))
    assert found == expected, term
