"""The baseline server: bare FastAPI endpoints, each a ceiling for one of the app's.

* `GET /baseline/{id}`: one asyncpg primary-key SELECT (the authenticated read's I/O);
* `GET /baseline/none`: no I/O at all (what FastAPI and uvicorn cost by themselves);
* `POST /baseline/refresh`: the refresh rotation's one statement (`_ROTATE_CURRENT`, the same
  text the app sends) with the HMACs that make its inputs, answering the successor token.

Run by the benchmark with the same uvicorn settings as `pe-portal serve`:
`uvicorn bench.baseline:create_app --factory`. DATABASE_URL names the database.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from fastapi import Body, FastAPI, HTTPException, Request

from pe_portal.auth.repository import _ROTATE_CURRENT
from pe_portal.config import DEVELOPMENT_SECRET
from pe_portal.db.base import new_id
from pe_portal.security import tokens

_QUERY = "SELECT id, email, first_name, last_name, is_active FROM users WHERE id = $1"


def create_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        size = int(os.environ.get("DATABASE_POOL_SIZE", "10"))
        url = os.environ["DATABASE_URL"]
        app.state.pool = await asyncpg.create_pool(url, min_size=size, max_size=size)
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/baseline/none")
    async def nothing() -> dict[str, str]:
        return {"id": "none", "email": "none@example.com"}

    @app.post("/baseline/refresh")
    async def refresh(request: Request, body: dict[str, str] = Body()) -> dict[str, str]:
        secret = os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET)
        token = tokens.parse_refresh_token(secret, body["refreshToken"])
        successor = tokens.refresh_token(secret, token.session_id, token.generation + 1)
        now = datetime.now(UTC).replace(tzinfo=None)
        row = await request.app.state.pool.fetchrow(
            _ROTATE_CURRENT, token.session_id, token.digest, successor.digest, now, "127.0.0.1",
            now + timedelta(days=7), timedelta(days=30), new_id(), "TOKEN_REFRESH", "AUTH",
            json.dumps({"sessionId": token.session_id}), "127.0.0.1", None, now,
        )  # fmt: skip
        if row is None:
            raise HTTPException(401)
        return {"refreshToken": successor.value, "userId": row["id"]}

    @app.get("/baseline/{user_id}")
    async def read(user_id: str, request: Request) -> dict[str, Any]:
        row = await request.app.state.pool.fetchrow(_QUERY, user_id)
        if row is None:
            raise HTTPException(404)
        return dict(row)

    return app
