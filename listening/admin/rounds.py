"""Rating rounds in the console: open one (times in the organisation's zone), extend it, close it
early, see participation per department (counts only) and remind those who have not rated
(a count, never names). Audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from listening.admin.console import NO_STORE, Section, actor, errors_of, page, text
from surveys import audit, catalog
from surveys.clock import Clock
from surveys.errors import DomainError
from surveys.local_time import (
    from_local_input,
    local_text,
    organisation_time_zone,
    round_form_values,
    to_local_input,
)
from surveys.round_reminders import not_rated_count, remind_not_rated
from surveys.rounds import (
    close_round,
    create_round_from_form,
    extend_round,
    list_rounds,
    participation,
)

SECTION = Section(
    "/admin/rounds",
    "Rounds",
    65,
    "Employees' rating rounds: open, extend, close early, participation per department and "
    "reminders.",
)


def _state(info: Any) -> dict[str, Any]:
    return {"name": info.name, "starts_at": info.starts_at, "ends_at": info.ends_at}


async def _page(
    request: Request,
    clock: Clock,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Template:
    now = clock()
    zone = await organisation_time_zone()
    start = (now.astimezone(zone) + timedelta(days=1)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    rounds = []
    for info in await list_rounds():
        status = info.status(now)
        rounds.append(
            {
                "info": info,
                "status": status,
                "participation": await participation(info.id),
                "not_rated": await not_rated_count(info.id) if status == "open" else None,
                "ends_input": to_local_input(info.ends_at + timedelta(days=7), zone),
            }
        )
    return page(
        request,
        "admin/rounds.html",
        SECTION,
        status_code=status_code,
        rounds=rounds,
        departments=[d for d in await catalog.list_departments() if d.active],
        zone=zone.key,
        local=lambda moment: local_text(moment, zone),
        values=values
        or {
            "name": "",
            "starts_at": to_local_input(start, zone),
            "ends_at": to_local_input(start + timedelta(days=14), zone),
            "departments": [],
        },
        errors=errors or {},
        notice=notice,
    )


@get("/admin/rounds", include_in_schema=False, cache_control=NO_STORE)
async def rounds_page(
    request: Request, clock: NamedDependency[Clock], done: FromQuery[str] = ""
) -> Template:
    """Every round with its participation, and the form to open one."""
    return await _page(request, clock, notice=done or None)


@post("/admin/rounds", include_in_schema=False, status_code=303)
async def open_round(
    request: Request, base_url: NamedDependency[str], clock: NamedDependency[Clock]
) -> Any:
    """Open a round from the form; its employees are invited by email."""
    values = round_form_values(await request.form())
    try:
        info = await create_round_from_form(values, base_url=base_url, clock=clock)
    except DomainError as exc:
        return await _page(
            request, clock, values=values, errors=errors_of(exc), status_code=exc.status_code
        )
    await audit.record(
        actor(request), "round", "create", info.name, after=_state(info), clock=clock
    )
    return Redirect(path="/admin/rounds?done=The%20round%20is%20open.", status_code=303)


async def _refused(request: Request, clock: Clock, exc: DomainError, round_id: int) -> Template:
    message = next(iter(errors_of(exc).values()))
    return await _page(
        request, clock, errors={"": f"Round {round_id}: {message}"}, status_code=exc.status_code
    )


@post("/admin/rounds/{round_id:int}/extend", include_in_schema=False, status_code=303)
async def extend(request: Request, round_id: FromPath[int], clock: NamedDependency[Clock]) -> Any:
    """Move a round's end later."""
    zone = await organisation_time_zone()
    try:
        ends = from_local_input(
            text(await request.form(), "ends_at"), "ends_at", zone, label="ends"
        )
        before = next((r for r in await list_rounds() if r.id == round_id), None)
        after = await extend_round(round_id, ends_at=ends, clock=clock)
    except DomainError as exc:
        return await _refused(request, clock, exc, round_id)
    await audit.record(
        actor(request),
        "round",
        "extend",
        after.name,
        before=_state(before) if before else None,
        after=_state(after),
        clock=clock,
    )
    return Redirect(path="/admin/rounds?done=The%20round%20was%20extended.", status_code=303)


@post("/admin/rounds/{round_id:int}/close", include_in_schema=False, status_code=303)
async def close(request: Request, round_id: FromPath[int], clock: NamedDependency[Clock]) -> Any:
    """End an open round now; its ratings are anonymised at once."""
    try:
        after = await close_round(round_id, clock=clock)
    except DomainError as exc:
        return await _refused(request, clock, exc, round_id)
    await audit.record(
        actor(request), "round", "close", after.name, after=_state(after), clock=clock
    )
    return Redirect(path="/admin/rounds?done=The%20round%20is%20closed.", status_code=303)


@post("/admin/rounds/{round_id:int}/remind", include_in_schema=False, status_code=200)
async def remind(
    request: Request,
    round_id: FromPath[int],
    base_url: NamedDependency[str],
    clock: NamedDependency[Clock],
) -> Template:
    """Remind the employees who have not rated yet; shows how many, never who."""
    try:
        count = await remind_not_rated(round_id, base_url=base_url, clock=clock)
    except DomainError as exc:
        return await _refused(request, clock, exc, round_id)
    await audit.record(
        actor(request), "round", "remind", str(round_id), after={"reminded": count}, clock=clock
    )
    return await _page(request, clock, notice=f"{count} employees were reminded.")


CONTROLLERS = [rounds_page, open_round, extend, close, remind]
