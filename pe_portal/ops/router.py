"""`/health` and `/ready` (outside `/api/v1`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pe_portal.ops.health import readiness

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Process liveness."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "Database unreachable or not migrated"}})
async def ready(request: Request) -> JSONResponse:
    """Database reachable and migrations at head."""
    state = await readiness(request.app.state.engine)
    body = {
        "status": "ready" if state.ready else "not_ready",
        "database": state.database,
        "revision": state.revision,
        "head": state.head,
    }
    return JSONResponse(body, status_code=200 if state.ready else 503)
