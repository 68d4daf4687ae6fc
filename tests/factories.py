"""Test data through the public API, as a client would make it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "correct horse battery staple"
_counter = itertools.count()


def unique_email(prefix: str = "investor") -> str:
    return f"{prefix}{next(_counter)}@example.com"


@dataclass
class SignedIn:
    email: str
    password: str
    user: dict[str, Any]
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def register(
    client: httpx.AsyncClient, email: str | None = None, password: str = PASSWORD, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": email or unique_email(), "password": password, **extra},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def login(
    client: httpx.AsyncClient,
    email: str,
    password: str = PASSWORD,
    user_agent: str = "pytest-device",
) -> SignedIn:
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": password},
        headers={"User-Agent": user_agent},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return SignedIn(email, password, body["user"], body["accessToken"], body["refreshToken"])


async def signed_in_user(client: httpx.AsyncClient, **extra: Any) -> SignedIn:
    """A new account, signed in once."""
    email = unique_email()
    await register(client, email, **extra)
    return await login(client, email)
