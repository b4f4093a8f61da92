"""GET /health: a real query against the database."""

from __future__ import annotations

from litestar import get
from litestar.response import Response

from listening.db import engine_name
from surveys.tables import Department


@get("/health", tags=["system"], summary="Liveness and database check")
async def health() -> Response[dict[str, str]]:
    """200 with the engine name after a real query; 503 when the database does not answer."""
    engine = Department._meta.db
    try:
        await engine.run_ddl("SELECT 1")
    except Exception as exc:  # any driver error means the database is unreachable
        return Response(
            {
                "status": "unavailable",
                "database": engine_name(engine),
                "detail": type(exc).__name__,
            },
            status_code=503,
        )
    return Response({"status": "ok", "database": engine_name(engine)})
