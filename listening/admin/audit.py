"""The audit log section, and `GET /api/audit` (admins) with the same filters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Request, get
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template

from listening.admin.console import NO_STORE, Section, page, parse_day
from listening.auth import admin_guard
from surveys import audit
from surveys.parameters import Offset

SECTION = Section(
    "/admin/audit",
    "Audit log",
    90,
    "Every configuration change: who made it, when, and the object before and after.",
)


@get("/admin/audit", include_in_schema=False, cache_control=NO_STORE)
async def audit_page(
    request: Request,
    kind: FromQuery[str] = "",
    actor: FromQuery[str] = "",
    since: FromQuery[str] = "",
    until: FromQuery[str] = "",
) -> Template:
    """The log, newest first, filtered by kind, actor and period."""
    errors: dict[str, str] = {}
    start, errors["since"] = parse_day(since, "since")
    end, errors["until"] = parse_day(until, "until")
    errors = {k: v for k, v in errors.items() if v}
    entries = (
        []
        if errors
        else await audit.list_entries(
            kind=kind or None, actor=actor or None, since=start, until=end, limit=500
        )
    )
    return page(
        request,
        "admin/audit.html",
        SECTION,
        status_code=400 if errors else 200,
        entries=entries,
        kinds=audit.KINDS,
        actors=await audit.actors(),
        errors=errors,
        values={"kind": kind, "actor": actor, "since": since, "until": until},
    )


@get(
    "/api/audit",
    guards=[admin_guard],
    tags=["audit"],
    summary="The audit log of configuration changes, newest first",
    cache_control=NO_STORE,
)
async def audit_api(
    kind: FromQuery[str | None] = None,
    actor: FromQuery[str | None] = None,
    since: FromQuery[datetime | None] = None,
    until: FromQuery[datetime | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[audit.Entry]:
    """Entries filtered by kind, actor and a period [since, until); dates in 1970–2100."""
    # The domain's Entry is the answer's shape: one definition of an entry, not two to keep equal.
    return await audit.list_entries(
        kind=kind, actor=actor, since=since, until=until, limit=limit, offset=offset
    )


CONTROLLERS = [audit_page]
API = [audit_api]
