"""`/health`, `/ready` and `/metrics` (outside `/api/v1`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from pe_portal import metrics
from pe_portal.ops.health import archive_state, readiness, refresh_gauges, replicas

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
        "replicas": replicas(request.app.state.read_router),
        "archive": await archive_state(request.app.state.engine) if state.ready else None,
    }
    return JSONResponse(body, status_code=200 if state.ready else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus metrics: requests, latency, logins, active sessions, database pool."""
    state = request.app.state
    await refresh_gauges(state.engine, state.sessionmaker, state.read_router)
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)
