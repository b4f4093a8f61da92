"""The people section's services: users with their roles and department, and the CSV import of
employees (email, name, department) checked row by row before anything is written."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from surveys.accounts import check_roles
from surveys.clock import Clock, system_clock
from surveys.errors import Invalid, NotFound
from surveys.password_links import create_account_with_link
from surveys.tables import Department, User
from surveys.transactions import write_transaction

MAX_ROWS = 5000
COLUMNS = ("email", "name", "department")


@dataclass(frozen=True)
class ImportRow:
    """One row of the CSV: its line, its values, and what is wrong with it ("" when nothing)."""

    line: int
    email: str
    name: str
    department: str
    error: str = ""


@dataclass(frozen=True)
class ImportPreview:
    """The rows as they would be imported, and whether any is refused."""

    rows: list[ImportRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every row can be imported."""
        return bool(self.rows) and not any(r.error for r in self.rows)


async def list_users() -> list[dict[str, Any]]:
    """Every account with its roles and department key."""
    rows = await User.select(
        User.id,
        User.email,
        User.name,
        User.roles,
        User.department.key.as_alias("department"),
        User.password_hash,
    ).order_by(User.email)
    for r in rows:
        r["roles"] = [x for x in r["roles"].split(",") if x]
        r["password_set"] = r.pop("password_hash") is not None
    return rows


async def update_user(user_id: int, roles: list[str], department: str | None) -> dict[str, Any]:
    """Change an account's roles and department; returns it before and after."""
    row = await User.select().where(User.id == user_id).first()
    if row is None:
        raise NotFound(f"no user {user_id}", field="user")
    check_roles(roles, department)
    department_id = None
    if department:
        found = await Department.select(Department.id).where(Department.key == department).first()
        if found is None:
            raise NotFound(f"no department {department!r}", field="department")
        department_id = found["id"]
    await User.update(
        {User.roles: ",".join(dict.fromkeys(roles)), User.department: department_id}
    ).where(User.id == user_id)
    before = {"roles": row["roles"].split(","), "department_id": row["department"]}
    after = {"roles": list(dict.fromkeys(roles)), "department_id": department_id}
    return {"email": row["email"], "before": before, "after": after}


async def preview_import(text: str) -> ImportPreview:
    """Check each row of an employees CSV (header: email,name,department) without writing."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    lines = [r for r in reader if any(c.strip() for c in r)]
    if not lines:
        raise Invalid(
            "The file is empty: the first line must be email,name,department.", field="csv"
        )
    header = [c.strip().lower() for c in lines[0]]
    if tuple(header) != COLUMNS:
        raise Invalid(
            f"The first line must be email,name,department, not {','.join(header)[:100]}.",
            field="csv",
        )
    if len(lines) - 1 > MAX_ROWS:
        raise Invalid(f"At most {MAX_ROWS} employees per file.", field="csv")
    departments = {d["key"] for d in await Department.select(Department.key)}
    existing = {u["email"] for u in await User.select(User.email)}
    seen: set[str] = set()
    rows = []
    for number, cells in enumerate(lines[1:], start=2):
        cells = [c.strip() for c in cells] + ["", "", ""]
        email, name, department = cells[0].lower(), cells[1], cells[2]
        error = ""
        if len([c for c in cells if c]) > 3:
            error = "more than three columns"
        elif "@" not in email or len(email) > 320 or " " in email:
            error = "not an email address"
        elif not name:
            error = "a name is required"
        elif department not in departments:
            error = f"no department {department!r}" if department else "a department is required"
        elif email in existing:
            error = "a user with this email exists"
        elif email in seen:
            error = "this email is on an earlier line"
        seen.add(email)
        rows.append(ImportRow(number, email, name[:200], department, error))
    return ImportPreview(rows)


async def import_employees(text: str, *, base_url: str, clock: Clock = system_clock) -> list[str]:
    """Create the employees of a CSV in one transaction, each emailed a set-password link."""
    preview = await preview_import(text)
    if not preview.ok:
        raise Invalid("Some rows are refused: nothing was imported.", field="csv")
    async with write_transaction():
        for row in preview.rows:
            await create_account_with_link(
                email=row.email,
                name=row.name,
                roles=["employee"],
                department_key=row.department,
                base_url=base_url,
                clock=clock,
            )
    return [r.email for r in preview.rows]
