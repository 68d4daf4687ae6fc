"""The baseline server: a bare FastAPI endpoint doing one asyncpg primary-key SELECT.

Run by the benchmark with the same uvicorn settings as `pe-portal serve`:
`uvicorn bench.baseline:create_app --factory`. DATABASE_URL names the database.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from fastapi import FastAPI, HTTPException, Request

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

    @app.get("/baseline/{user_id}")
    async def read(user_id: str, request: Request) -> dict[str, Any]:
        row = await request.app.state.pool.fetchrow(_QUERY, user_id)
        if row is None:
            raise HTTPException(404)
        return dict(row)

    return app
