"""The follow-ups board: open, in progress and closed columns per department, each card with the
customer's answer and comments; assign a card to a person, move it, close it with a note."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from listening.admin.console import NO_STORE, Section, actor, page, text
from listening.settings import Settings
from surveys import audit, follow_up_board
from surveys.clock import Clock
from surveys.errors import DomainError
from surveys.follow_ups import STATUSES, update_follow_up, viewer_of

SECTION = Section("/admin/follow-ups", "Follow-ups", 70)
LABELS = {"open": "Open", "in_progress": "In progress", "closed": "Closed"}


async def _page(
    request: Request,
    *,
    department: str = "",
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Template:
    return page(
        request,
        "admin/follow_ups.html",
        SECTION,
        status_code=status_code,
        columns=await follow_up_board.board(viewer_of(request.user), department=department or None),
        labels=LABELS,
        statuses=STATUSES,
        people=await follow_up_board.assignable(),
        departments=await follow_up_board.department_choices(),
        department=department,
        errors=errors or {},
        values=values or {},
        notice=notice,
    )


@get("/admin/follow-ups", include_in_schema=False, cache_control=NO_STORE)
async def board_page(
    request: Request, department: FromQuery[str] = "", saved: FromQuery[int | None] = None
) -> Template:
    """The board, for one department or all."""
    notice = f"Follow-up {saved} was saved." if saved else None
    return await _page(request, department=department, notice=notice)


def _back(follow_up_id: int, department: str) -> Redirect:
    query = f"&department={department}" if department else ""
    return Redirect(path=f"/admin/follow-ups?saved={follow_up_id}{query}", status_code=303)


@post("/admin/follow-ups/{follow_up_id:int}", include_in_schema=False, status_code=303)
async def change(
    request: Request,
    follow_up_id: FromPath[int],
    settings: NamedDependency[Settings],
    clock: NamedDependency[Clock],
) -> Any:
    """Assign, move or close one follow-up (closing needs a note)."""
    form = await request.form()
    department = text(form, "department_filter")
    status, note, assignee = text(form, "status"), text(form, "note"), text(form, "assignee")
    viewer = viewer_of(request.user)
    try:
        before = await follow_up_board.assign(
            viewer, follow_up_id, int(assignee) if assignee.isdigit() else None
        )
        after = await update_follow_up(
            viewer, follow_up_id, status=status or None, note=note or None, clock=clock
        )
    except DomainError as exc:
        field = exc.field or ""
        return await _page(
            request,
            department=department,
            errors={
                f"{field}-{follow_up_id}": exc.message,
                "": f"Follow-up {follow_up_id}: {exc.message}",
            },
            values={follow_up_id: {"status": status, "note": note, "assignee": assignee}},
            status_code=exc.status_code,
        )
    await audit.record(
        actor(request),
        "follow_up",
        "update",
        str(follow_up_id),
        before={"status": before.status, "note": before.note},
        after={"status": after.status, "note": after.note, "assignee": assignee or None},
        # The note may speak of the customer: their erasure blanks the entry.
        person=audit.person_ref(before.customer_ref, settings.secret_key)
        if before.customer_ref
        else None,
        clock=clock,
    )
    return _back(follow_up_id, department)


CONTROLLERS = [board_page, change]
