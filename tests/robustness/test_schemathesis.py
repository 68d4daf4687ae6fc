"""Schemathesis over /openapi.json against the real server: no 5xx, responses that match the
documented schemas, invalid input refused, and authenticated operations refusing no token."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.db.runtime import DatabaseUrls
from pe_portal.web.app import create_app
from tests.conftest import ALL_TABLES, PgCluster
from tests.factories import PASSWORD, unique_email
from tests.robustness.served import Served, serve, server_env

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "20"))  # CI bound; docs: longer run
CHECKS = [not_a_server_error, response_schema_conformance, negative_data_rejection, ignored_auth]


@pytest.fixture(scope="module")
def served(
    test_db: PgCluster, engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The real server on the (migrated) test database; what it wrote is removed afterwards."""
    home = tmp_path_factory.mktemp("fuzz")
    urls = DatabaseUrls(test_db.urls.app, test_db.urls.migration)
    try:
        with serve(server_env(urls, home), home) as server:
            yield server
    finally:
        test_db.admin_sql(f"TRUNCATE {ALL_TABLES} CASCADE")


@pytest.fixture(scope="module")
def bearer(served: Served) -> dict[str, str]:
    """A signed-in account for the authenticated operations."""
    email = unique_email("fuzz")
    with httpx.Client(base_url=served.url) as client:
        client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['accessToken']}"}


def _load_schema() -> schemathesis.BaseSchema:
    """The app's own OpenAPI document, loaded at import (pytest 9 breaks schemathesis' lazy
    fixture loader); the requests go to a real server process below."""
    home = Path(tempfile.mkdtemp(prefix="pe-portal-schema-"))
    settings = Settings(env="test", jwt_keys_dir=home / "keys", mail_dir=home / "mail",
                        _env_file=None)  # fmt: skip
    loaded = schemathesis.openapi.from_dict(create_app(settings).openapi())
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        database="none",
    )
    # Deleting the account or signing out everywhere would end the shared bearer for the rest.
    return loaded.exclude(method="DELETE", path="/api/v1/users/me").exclude(
        path_regex=r"^/api/v1/auth/logout(-all)?$"
    )


schema = _load_schema()


@schema.parametrize()
def test_api_conforms(case: schemathesis.Case[Any], bearer: dict[str, str], served: Served) -> None:
    case.call_and_validate(base_url=served.url, headers=bearer, checks=CHECKS)
