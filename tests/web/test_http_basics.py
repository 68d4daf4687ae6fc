"""What every response promises: the error shape, request ids, security headers, body limits."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from pe_portal.errors import Conflict


async def test_health_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_database_is_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


async def test_every_response_has_a_request_id_and_security_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/health")
    assert len(response.headers["x-request-id"]) == 32
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "server" not in response.headers


async def test_a_sane_request_id_is_echoed_and_a_hostile_one_replaced(
    client: httpx.AsyncClient,
) -> None:
    echoed = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    hostile = await client.get("/health", headers={"X-Request-ID": "<script>" * 30})
    assert hostile.headers["x-request-id"] != "<script>" * 30


async def test_unknown_route_uses_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/anything",
        content=b"{" + b" " * 200_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/v1/auth/sessions/a%00b"),  # an id in the path: a 500 once
        ("DELETE", "/api/v1/auth/mfa/factors/a%00b"),
        ("GET", "/api/v1/users/me/audit-logs?q=a%00b"),
    ],
)
async def test_a_nul_in_the_address_is_a_400_before_any_handler(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


async def test_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/anything", content=b"a=b", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


@pytest.fixture
def failing_app(app: FastAPI) -> FastAPI:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @app.get("/conflict")
    async def conflict() -> None:
        raise Conflict("already there", code="email_taken")

    return app


async def test_unexpected_error_is_a_generic_500_naming_the_request_id(
    failing_app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get("/boom", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 500
    body = response.json()
    assert body["error"]["code"] == "internal_error"
    assert "req-42" in body["error"]["message"]
    assert "secret internals" not in response.text
    assert response.headers["x-request-id"] == "req-42"


async def test_domain_errors_map_to_status_and_stable_code(
    failing_app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get("/conflict")
    assert response.status_code == 409
    assert response.json() == {
        "error": {"code": "email_taken", "message": "already there", "details": None}
    }


async def test_control_characters_in_user_agent_are_dropped_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": "nobody@example.com", "password": "whatever password"},
        headers={"User-Agent": "bad\x00agent\x07"},
    )
    assert response.status_code == 401
