"""What the API document promises, held by the server: each error status an operation can
answer is listed with the shared Error schema; 405 names exactly the path's methods; a record's
time reads the same when written and when read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import login, register, unique_email


def _responses(app: FastAPI, method: str, path: str) -> dict[str, Any]:
    responses: dict[str, Any] = app.openapi()["paths"][path][method]["responses"]
    return responses


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("post", "/api/v1/auth/register", {"400", "409", "413", "415", "422", "429", "503"}),
        ("post", "/api/v1/auth/login", {"401", "422", "429", "503"}),
        ("get", "/api/v1/users/me", {"401", "500", "503"}),
        ("delete", "/api/v1/auth/sessions/{session_id}", {"401", "404", "422"}),
        ("post", "/api/v1/auth/password/reset", {"404", "410", "422"}),
        ("get", "/api/v1/users/me/audit-logs", {"401", "422"}),
    ],
)
def test_each_operation_lists_the_errors_it_can_answer(
    app: FastAPI, method: str, path: str, statuses: set[str]
) -> None:
    responses = _responses(app, method, path)
    assert statuses <= set(responses)
    for status in statuses:
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}, (status, schema)


def test_an_unauthenticated_read_lists_no_input_errors(app: FastAPI) -> None:
    assert not {"400", "413", "415", "422"} & set(_responses(app, "get", "/api/v1/users/me"))


def test_the_token_endpoint_documents_rfc_6749_errors(app: FastAPI) -> None:
    responses = _responses(app, "post", "/api/v1/auth/token")
    for status in ("400", "429", "503"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/OAuthErrorBody"}


def test_the_password_minimum_is_the_running_setting(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    minimum = app.state.settings.password_min_length
    assert schemas["RegisterRequest"]["properties"]["password"]["minLength"] == minimum
    assert schemas["RegisterRequest"]["properties"]["password"]["maxLength"] == 72
    assert schemas["RegisterRequest"]["properties"]["email"]["maxLength"] == 254
    assert "x-pe-portal-settings" not in str(schemas)


@pytest.mark.parametrize("method", ["OPTIONS", "PUT", "POST"])
async def test_405_names_every_method_of_the_path(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/api/v1/users/me")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH"
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_405_on_a_path_with_a_parameter(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/auth/sessions/some-id")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE"


async def test_a_record_reads_back_as_it_was_returned(client: httpx.AsyncClient) -> None:
    email = unique_email()
    created = await register(client, email)
    me = await login(client, email)
    read = (await client.get("/api/v1/users/me", headers=me.headers)).json()
    assert read["createdAt"] == created["createdAt"] == me.user["createdAt"]
    written = datetime.fromisoformat(created["createdAt"])
    assert written.microsecond % 1000 == 0  # what TIMESTAMP(3) holds, not rounded on the way in
