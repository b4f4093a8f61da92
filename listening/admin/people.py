"""People: users and their roles, departments of employees, API keys (shown once at creation,
revocable), and the CSV import of employees with a preview and per-row errors. Audited."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from listening import apikeys, people_admin
from listening.admin.console import NO_STORE, Section, actor, errors_of, page, text
from surveys import audit, catalog
from surveys.accounts import ROLES
from surveys.clock import Clock
from surveys.errors import DomainError, Invalid
from surveys.password_links import create_account_with_link

SECTION = Section(
    "/admin/people",
    "People",
    60,
    "Users, their roles and departments, API keys, and a CSV import of employees.",
)
MAX_UPLOAD = 2_000_000


async def _page(
    request: Request,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    new_key: str | None = None,
    preview: people_admin.ImportPreview | None = None,
    status_code: int = 200,
) -> Template:
    return page(
        request,
        "admin/people.html",
        SECTION,
        status_code=status_code,
        users=await people_admin.list_users(),
        departments=[d for d in await catalog.list_departments() if d.active],
        keys=await apikeys.list_keys(),
        roles=ROLES,
        scopes=apikeys.SCOPES,
        values=values or {"roles": ["employee"]},
        errors=errors or {},
        notice=notice,
        new_key=new_key,
        preview=preview,
    )


@get("/admin/people", include_in_schema=False, cache_control=NO_STORE)
async def people_page(request: Request, saved: FromQuery[str] = "") -> Template:
    """Users, API keys and the employees import."""
    return await _page(request, notice=f"{saved} was saved." if saved else None)


def _roles(form: Any) -> list[str]:
    return [r for r in form.getall("roles", []) if isinstance(r, str)]


@post("/admin/people/users", include_in_schema=False, status_code=303)
async def create_user(
    request: Request, base_url: NamedDependency[str], clock: NamedDependency[Clock]
) -> Any:
    """Create an account; it is emailed a link to set its password."""
    form = await request.form()
    values = {
        "email": text(form, "email"),
        "name": text(form, "name"),
        "roles": _roles(form),
        "department": text(form, "department"),
    }
    try:
        account = await create_account_with_link(
            email=values["email"],
            name=values["name"],
            roles=values["roles"],
            department_key=values["department"] or None,
            base_url=base_url,
            clock=clock,
        )
    except DomainError as exc:
        return await _page(
            request, values=values, errors=errors_of(exc), status_code=exc.status_code
        )
    after = {k: v for k, v in values.items() if k != "email"}
    await audit.record(actor(request), "user", "create", account.email, after=after, clock=clock)
    return Redirect(path=f"/admin/people?saved={quote(account.email)}", status_code=303)


@post("/admin/people/users/{user_id:int}", include_in_schema=False, status_code=303)
async def update_user(
    request: Request, user_id: FromPath[int], clock: NamedDependency[Clock]
) -> Any:
    """Change a user's roles and department."""
    form = await request.form()
    try:
        changed = await people_admin.update_user(
            user_id, _roles(form), text(form, "department") or None
        )
    except DomainError as exc:
        message = errors_of(exc)
        return await _page(
            request,
            errors={"": f"User {user_id}: {next(iter(message.values()))}"},
            status_code=exc.status_code,
        )
    if changed["before"] != changed["after"]:
        await audit.record(
            actor(request),
            "user",
            "update",
            changed["email"],
            before=changed["before"],
            after=changed["after"],
            clock=clock,
        )
    return Redirect(path=f"/admin/people?saved={quote(changed['email'])}", status_code=303)


@post("/admin/people/keys", include_in_schema=False, status_code=200)
async def create_key(request: Request, clock: NamedDependency[Clock]) -> Template:
    """Create an API key and show it, this once."""
    form = await request.form()
    values = {"key_name": text(form, "key_name"), "scope": text(form, "scope")}
    try:
        key_id, key = await apikeys.create_key(values["key_name"], values["scope"], clock=clock)
    except DomainError as exc:
        errors = errors_of(exc)
        errors = {("key_name" if k == "name" else k): v for k, v in errors.items()}
        return await _page(request, values=values, errors=errors, status_code=exc.status_code)
    await audit.record(
        actor(request),
        "api_key",
        "create",
        values["key_name"],
        after={"id": key_id, "scope": values["scope"], "prefix": key[:10]},
        clock=clock,
    )
    return await _page(request, new_key=key, notice=f"Key {values['key_name']} was created.")


@post("/admin/people/keys/{key_id:int}/revoke", include_in_schema=False, status_code=303)
async def revoke_key(request: Request, key_id: FromPath[int], clock: NamedDependency[Clock]) -> Any:
    """Revoke an API key: requests with it are refused from now on."""
    try:
        await apikeys.revoke_key(key_id, clock=clock)
    except DomainError as exc:
        return await _page(request, errors={"": exc.message}, status_code=exc.status_code)
    await audit.record(actor(request), "api_key", "revoke", str(key_id), clock=clock)
    return Redirect(path=f"/admin/people?saved=Key%20{key_id}", status_code=303)


async def _csv_text(form: Any) -> str:
    upload = form.get("file")
    if isinstance(upload, UploadFile):
        data = await upload.read(MAX_UPLOAD + 1)
        if data:
            if len(data) > MAX_UPLOAD:
                raise Invalid("The file is larger than 2 MB.", field="csv")
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                raise Invalid("The file must be UTF-8 text.", field="csv") from None
    return text(form, "csv")


@post("/admin/people/import", include_in_schema=False, status_code=200)
async def import_employees(
    request: Request, base_url: NamedDependency[str], clock: NamedDependency[Clock]
) -> Any:
    """Preview an employees CSV; with `confirm`, import it (all rows or none)."""
    form = await request.form()
    try:
        csv_text = await _csv_text(form)
        preview = await people_admin.preview_import(csv_text)
        if form.get("confirm") != "yes" or not preview.ok:
            return await _page(
                request,
                values={"csv": csv_text},
                preview=preview,
                status_code=200 if preview.ok else 422,
            )
        emails = await people_admin.import_employees(csv_text, base_url=base_url, clock=clock)
    except DomainError as exc:
        return await _page(
            request,
            values={"csv": text(form, "csv")},
            errors=errors_of(exc),
            status_code=exc.status_code,
        )
    await audit.record(
        actor(request), "user", "import", f"{len(emails)} employees", after=emails, clock=clock
    )
    return Redirect(path=f"/admin/people?saved={len(emails)}%20employees", status_code=303)


CONTROLLERS = [people_page, create_user, update_user, create_key, revoke_key, import_employees]
