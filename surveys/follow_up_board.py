"""The follow-ups board: follow-ups by column (open, in progress, closed) and department, each
with the customer's answer and comments and the person it is assigned to."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from surveys.errors import Conflict, NotFound
from surveys.follow_ups import STATUSES, FollowUpCase, Viewer, get_follow_up, list_follow_ups
from surveys.tables import Department, FollowUp, User


async def board(viewer: Viewer, *, department: str | None = None) -> dict[str, list[FollowUpCase]]:
    """The follow-ups this viewer sees, by status, newest first, with their assignees."""
    rows = await list_follow_ups(viewer, limit=600)
    if department:
        rows = [r for r in rows if r.department_key == department]
    assigned = {
        r["id"]: r
        for r in await FollowUp.select(
            FollowUp.id,
            FollowUp.assignee.id.as_alias("assignee_id"),
            FollowUp.assignee.name.as_alias("assignee_name"),
        ).where(FollowUp.id.is_in([r.id for r in rows] or [0]))
    }
    columns: dict[str, list[FollowUpCase]] = {s: [] for s in STATUSES}
    for row in rows:
        extra = assigned.get(row.id, {})
        columns[row.status].append(
            replace(
                row,
                assignee_id=extra.get("assignee_id"),
                assignee_name=extra.get("assignee_name"),
            )
        )
    return columns


async def assignable() -> list[dict[str, Any]]:
    """The active people a follow-up can be assigned to, by name."""
    return await (
        User.select(User.id, User.name, User.email, User.department.key.as_alias("department"))
        .where(User.active == True)
        .order_by(User.name)
    )


async def assign(viewer: Viewer, follow_up_id: int, user_id: int | None) -> FollowUpCase:
    """Assign a follow-up to a person (None: nobody); a closed one is refused."""
    current = await get_follow_up(viewer, follow_up_id)
    if current.status == "closed":
        raise Conflict("this follow-up is closed", field="assignee")
    if user_id is not None and not await User.exists().where(
        (User.id == user_id) & (User.active == True)
    ):
        raise NotFound("no such person", field="assignee")
    await FollowUp.update({FollowUp.assignee: user_id}).where(FollowUp.id == follow_up_id)
    return current


async def department_choices() -> list[dict[str, Any]]:
    """Departments to filter the board by."""
    return await Department.select(Department.key, Department.name).order_by(Department.name)
