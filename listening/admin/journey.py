"""The journey editor: departments, journeys and their ordered steps.

Each journey is drawn as a row of steps coloured by the owning department. Steps are reordered,
renamed, moved to another department or journey, marked as moments of truth and deactivated
through `surveys.catalog`, which records every change in the audit log.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from listening.admin.console import (
    NO_STORE,
    Section,
    actor,
    convert,
    errors_of,
    optional,
    page,
    text,
)
from surveys import catalog, schemas
from surveys.errors import DomainError

SECTION = Section(
    "/admin/journey",
    "Journey",
    10,
    "Departments, journeys and their ordered steps: rename, reorder, change the owning "
    "department, mark moments of truth, deactivate.",
)
FORMS = ("department", "journey", "step")


async def _organisation() -> dict[str, Any]:
    departments = await catalog.list_departments()
    colour = {d.key: n % 8 for n, d in enumerate(departments)}
    steps = await catalog.list_steps()
    return {
        "departments": departments,
        "colour": colour,
        "journeys": [
            (j, [s for s in steps if s.journey == j.key]) for j in await catalog.list_journeys()
        ],
        "surveyed": {s.step for s in await catalog.list_surveys()},
    }


async def _page(
    request: Request,
    *,
    form: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Template:
    form_values: dict[str, dict[str, Any]] = {f: {} for f in FORMS}
    form_errors: dict[str, dict[str, str]] = {f: {} for f in FORMS}
    if form:
        form_values[form] = values or {}
        form_errors[form] = errors or {}
    return page(
        request,
        "admin/journey.html",
        SECTION,
        status_code=status_code,
        notice=notice,
        form_values=form_values,
        form_errors=form_errors,
        **await _organisation(),
    )


@get("/admin/journey", include_in_schema=False, cache_control=NO_STORE)
async def journey_page(request: Request, saved: FromQuery[str] = "") -> Template:
    """Departments, journeys drawn as rows of steps, and forms to add each."""
    return await _page(request, notice=f"{saved} was saved." if saved else None)


def _back(what: str) -> Redirect:
    return Redirect(path=f"/admin/journey?saved={what}", status_code=303)


@post("/admin/journey/departments", include_in_schema=False, status_code=303)
async def create_department(request: Request) -> Any:
    """Add a department."""
    form = await request.form()
    values = {
        "key": text(form, "key"),
        "name": text(form, "name"),
        "follow_up_email": optional(text(form, "follow_up_email")),
    }
    try:
        data = convert(values, schemas.DepartmentCreate)
        await catalog.create_department(data, actor=actor(request))
    except DomainError as exc:
        return await _page(
            request,
            form="department",
            values=values,
            errors=errors_of(exc),
            status_code=exc.status_code,
        )
    return _back(f"Department {values['name']}")


@post("/admin/journey/journeys", include_in_schema=False, status_code=303)
async def create_journey(request: Request) -> Any:
    """Add a journey (last)."""
    form = await request.form()
    values = {"key": text(form, "key"), "name": text(form, "name")}
    try:
        await catalog.create_journey(convert(values, schemas.JourneyCreate), actor=actor(request))
    except DomainError as exc:
        return await _page(
            request,
            form="journey",
            values=values,
            errors=errors_of(exc),
            status_code=exc.status_code,
        )
    return _back(f"Journey {values['name']}")


@post("/admin/journey/steps", include_in_schema=False, status_code=303)
async def create_step(request: Request) -> Any:
    """Add a step, last in its journey."""
    form = await request.form()
    values = {
        "key": text(form, "key"),
        "name": text(form, "name"),
        "journey": text(form, "journey"),
        "department": text(form, "department"),
        "moment_of_truth": form.get("moment_of_truth") == "on",
    }
    try:
        await catalog.create_step(convert(values, schemas.StepCreate), actor=actor(request))
    except DomainError as exc:
        return await _page(
            request, form="step", values=values, errors=errors_of(exc), status_code=exc.status_code
        )
    return Redirect(path=f"/admin/surveys/{values['key']}?new=1", status_code=303)


@post("/admin/journey/steps/{key:str}/move", include_in_schema=False, status_code=303)
async def move_step(request: Request, key: FromPath[str]) -> Redirect:
    """Move a step one place earlier or later in its journey."""
    form = await request.form()
    await catalog.move_step(key, -1 if form.get("to") == "earlier" else 1, actor=actor(request))
    return _back(f"The order of step {key}")


@post("/admin/journey/journeys/{key:str}/move", include_in_schema=False, status_code=303)
async def move_journey(request: Request, key: FromPath[str]) -> Redirect:
    """Move a journey one place up or down."""
    form = await request.form()
    await catalog.move_journey(key, -1 if form.get("to") == "earlier" else 1, actor=actor(request))
    return _back(f"The order of journey {key}")


# --- one object's form -----------------------------------------------------------------------


async def _edit(
    request: Request,
    kind: str,
    item: Any,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    return page(
        request,
        "admin/journey_edit.html",
        SECTION,
        status_code=status_code,
        kind=kind,
        item=item,
        values=values or _as_dict(item),
        errors=errors or {},
        departments=await catalog.list_departments(),
        journeys=await catalog.list_journeys(),
    )


def _as_dict(item: Any) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__struct_fields__}


_GETTERS = {
    "departments": catalog.get_department,
    "journeys": catalog.get_journey,
    "steps": catalog.get_step,
}


# One path per kind: a `{kind}` parameter would lose to the static paths of the same prefix.
EDIT_PATHS = [f"/admin/journey/{kind}/{{key:str}}" for kind in _GETTERS]


def _kind(request: Request) -> str:
    return request.url.path.split("/")[3]


@get(EDIT_PATHS, include_in_schema=False, cache_control=NO_STORE)
async def edit_page(request: Request, key: FromPath[str]) -> Template:
    """The form for one department, journey or step."""
    kind = _kind(request)
    getter = _GETTERS[kind]
    return await _edit(request, kind, await getter(key))


def _update_values(kind: str, form: Any) -> tuple[dict[str, Any], type, Any]:
    active = form.get("active") == "on"
    if kind == "departments":
        values = {
            "name": text(form, "name"),
            "follow_up_email": optional(text(form, "follow_up_email")),
            "active": active,
        }
        return values, schemas.DepartmentUpdate, catalog.update_department
    if kind == "journeys":
        values = {"name": text(form, "name"), "active": active}
        return values, schemas.JourneyUpdate, catalog.update_journey
    values = {
        "name": text(form, "name"),
        "journey": text(form, "journey"),
        "department": text(form, "department"),
        "moment_of_truth": form.get("moment_of_truth") == "on",
        "active": active,
    }
    return values, schemas.StepUpdate, catalog.update_step


@post(EDIT_PATHS, include_in_schema=False, status_code=303)
async def update(request: Request, key: FromPath[str]) -> Any:
    """Save one department, journey or step from its form."""
    kind = _kind(request)
    getter = _GETTERS[kind]
    item = await getter(key)
    values, struct, service = _update_values(kind, await request.form())
    try:
        await service(key, convert(values, struct), actor=actor(request))
    except DomainError as exc:
        return await _edit(
            request,
            kind,
            item,
            values={**_as_dict(item), **values},
            errors=errors_of(exc),
            status_code=exc.status_code,
        )
    return _back(f"{kind[:-1].capitalize()} {values['name']}")


CONTROLLERS = [
    journey_page,
    create_department,
    create_journey,
    create_step,
    move_step,
    move_journey,
    edit_page,
    update,
]
