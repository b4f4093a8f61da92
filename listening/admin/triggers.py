"""The trigger editor: list, create, change and deactivate triggers, and dry-run an event.

Writes go through `listening.trigger_admin`'s services; each change is recorded in the audit log.
`POST /api/events/dry-run` (admin or ingest key) is the dry run for other systems.
"""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from listening import schemas, trigger_admin
from listening.admin.console import NO_STORE, Section, actor, convert, errors_of, page, text
from listening.apikeys import identify
from listening.auth import bearer_token
from listening.dry_run import DryRun, dry_run, parse_event
from listening.settings import Settings
from listening.trigger_file import parse_duration
from surveys import audit, catalog
from surveys.clock import Clock
from surveys.errors import DomainError, Invalid

SECTION = Section(
    "/admin/triggers",
    "Triggers",
    30,
    "The rules that turn touchpoint events into invitations, with a dry run that explains one "
    "event's outcome.",
)

DURATIONS = (
    ("delay", "delay_seconds"),
    ("expires_after", "expires_after_seconds"),
    ("max_event_age", "max_event_age_seconds"),
    ("quarantine", "quarantine_seconds"),
    ("reminder_after", "reminder_after_seconds"),
)
OPTIONAL_DURATIONS = {"quarantine", "reminder_after"}
EXAMPLE_EVENT = {
    "id": "dry-run-1",
    "type": "ticket.resolved",
    "occurred_at": "2026-01-01T10:00:00Z",
    "customer": {"id": "c-1", "email": "customer@example.com", "locale": "en"},
    "attributes": {"channel": "phone"},
}


def duration_text(seconds: int | None) -> str:
    """Seconds as people write them: "7d", "2h", "15m", "90s"; "" for none."""
    if seconds is None:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _form_values(trigger: schemas.Trigger | None) -> dict[str, Any]:
    if trigger is None:
        return {
            "key": "",
            "event_type": "",
            "step": "",
            "channel": "link",
            "webhook_url": "",
            "sample_percent": "100",
            "delay": "0s",
            "expires_after": "7d",
            "max_event_age": "7d",
            "quarantine": "",
            "reminder_after": "",
            "filters": "{}",
            "active": True,
        }
    values: dict[str, Any] = {
        "key": trigger.key,
        "event_type": trigger.event_type,
        "step": trigger.step,
        "channel": trigger.channel,
        "webhook_url": trigger.webhook_url or "",
        "sample_percent": f"{trigger.sample_percent:g}",
        "filters": json.dumps(trigger.filters, ensure_ascii=False),
        "active": trigger.active,
    }
    for name, column in DURATIONS:
        values[name] = duration_text(getattr(trigger, column))
    return values


def _read_form(form: Any) -> dict[str, Any]:
    values = {
        name: text(form, name)
        for name in ("key", "event_type", "step", "channel", "webhook_url", "sample_percent")
    }
    for name, _ in DURATIONS:
        values[name] = text(form, name)
    values["filters"] = text(form, "filters") or "{}"
    values["active"] = form.get("active") == "on"
    return values


def _fields(values: dict[str, Any]) -> dict[str, Any]:
    """The service's fields from the form's text; a value that does not parse is Invalid."""
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {
        "event_type": values["event_type"],
        "step": values["step"],
        "channel": values["channel"],
        "webhook_url": values["webhook_url"] or None,
        "active": values["active"],
    }
    try:
        fields["sample_percent"] = float(values["sample_percent"])
    except ValueError:
        errors["sample_percent"] = "Enter a percentage from 0 to 100."
    for name, column in DURATIONS:
        if not values[name] and name in OPTIONAL_DURATIONS:
            fields[column] = None
            continue
        try:
            fields[column] = parse_duration(values[name], name)
        except Invalid as exc:
            errors[name] = exc.message
    try:
        fields["filters"] = json.loads(values["filters"])
    except json.JSONDecodeError as exc:
        errors["filters"] = f'filters must be JSON, such as {{"channel": "phone"}}: {exc.msg}'
    if errors:
        raise Invalid("Please check the fields marked below.", errors=errors)
    return fields


async def _steps() -> list[Any]:
    return [s for s in await catalog.list_steps() if s.active]


async def _list_page(
    request: Request,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    event_text: str | None = None,
    result: DryRun | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Template:
    return page(
        request,
        "admin/triggers.html",
        SECTION,
        status_code=status_code,
        triggers=await trigger_admin.list_triggers(),
        steps=await _steps(),
        channels=trigger_admin.CHANNELS,
        values=values or _form_values(None),
        errors=errors or {},
        event_text=event_text or json.dumps(EXAMPLE_EVENT, indent=2),
        result=result,
        notice=notice,
        duration_text=duration_text,
    )


@get("/admin/triggers", include_in_schema=False, cache_control=NO_STORE)
async def triggers_page(request: Request, saved: FromQuery[str] = "") -> Template:
    """Every trigger, a form for a new one, and the dry run."""
    notice = f"Trigger {saved} was saved." if saved else None
    return await _list_page(request, notice=notice)


@post("/admin/triggers", include_in_schema=False, status_code=303)
async def create_trigger(request: Request, clock: NamedDependency[Clock]) -> Any:
    """Create a trigger from the form."""
    values = _read_form(await request.form())
    try:
        fields = _fields(values)
        data = convert({"key": values["key"], **fields}, schemas.TriggerCreate)
        created = await trigger_admin.create_trigger(data, clock=clock)
    except DomainError as exc:
        return await _list_page(
            request, values=values, errors=errors_of(exc), status_code=exc.status_code
        )
    await audit.record(actor(request), "trigger", "create", created.key, after=created, clock=clock)
    return Redirect(path=f"/admin/triggers?saved={created.key}", status_code=303)


async def _edit_page(
    request: Request,
    trigger: schemas.Trigger,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    return page(
        request,
        "admin/trigger_edit.html",
        SECTION,
        status_code=status_code,
        trigger=trigger,
        steps=await _steps(),
        channels=trigger_admin.CHANNELS,
        values=values or _form_values(trigger),
        errors=errors or {},
    )


@get("/admin/triggers/{key:str}", include_in_schema=False, cache_control=NO_STORE)
async def edit_page(request: Request, key: FromPath[str]) -> Template:
    """One trigger's form."""
    return await _edit_page(request, await trigger_admin.get_trigger(key))


@post("/admin/triggers/{key:str}", include_in_schema=False, status_code=303)
async def update_trigger(
    request: Request, key: FromPath[str], clock: NamedDependency[Clock]
) -> Any:
    """Change a trigger from its form."""
    before = await trigger_admin.get_trigger(key)
    values = {**_read_form(await request.form()), "key": key}
    try:
        data = convert(_fields(values), schemas.TriggerUpdate)
        after = await trigger_admin.update_trigger(key, data)
    except DomainError as exc:
        return await _edit_page(
            request, before, values=values, errors=errors_of(exc), status_code=exc.status_code
        )
    if after != before:
        await audit.record(
            actor(request), "trigger", "update", key, before=before, after=after, clock=clock
        )
    return Redirect(path=f"/admin/triggers?saved={key}", status_code=303)


@post("/admin/triggers/{key:str}/deactivate", include_in_schema=False, status_code=303)
async def deactivate_trigger(
    request: Request, key: FromPath[str], clock: NamedDependency[Clock]
) -> Redirect:
    """Stop a trigger from inviting."""
    before = await trigger_admin.get_trigger(key)
    after = await trigger_admin.deactivate_trigger(key)
    if after != before:
        await audit.record(
            actor(request), "trigger", "deactivate", key, before=before, after=after, clock=clock
        )
    return Redirect(path=f"/admin/triggers?saved={key}", status_code=303)


@post("/admin/triggers/dry-run", include_in_schema=False, status_code=200)
async def dry_run_page(
    request: Request, settings: NamedDependency[Settings], clock: NamedDependency[Clock]
) -> Template:
    """Dry-run the pasted event with the customer's history (the admin sees everything)."""
    event_text = text(await request.form(), "event")
    try:
        event = parse_event(event_text)
        result = await dry_run(event, secret_key=settings.secret_key, now=clock(), history=True)
    except DomainError as exc:
        return await _list_page(
            request,
            event_text=event_text,
            errors={"event": exc.message},
            status_code=exc.status_code,
        )
    return await _list_page(request, event_text=event_text, result=result)


@post(
    "/api/events/dry-run",
    tags=["events"],
    summary="Dry-run one event: each trigger's decision and why, storing nothing",
    description=(
        "Same body as POST /api/events. An admin key sees the customer's opt-out, suppression"
        " and last invitation; an ingest key gets the rule decisions without that history."
    ),
    status_code=200,
    opt={"exclude_from_auth": True, "exclude_from_csrf": True},
)
async def dry_run_api(
    request: Request, settings: NamedDependency[Settings], clock: NamedDependency[Clock]
) -> DryRun:
    """Decide an event as ingestion would, without storing anything."""
    token = bearer_token(request)
    key = await identify(token) if token else None
    if key is None:
        raise NotAuthorizedException("send an admin or ingest key as 'Authorization: Bearer <key>'")
    event = parse_event(await request.body())
    return await dry_run(
        event, secret_key=settings.secret_key, now=clock(), history=key.scope == "admin"
    )


# The literal dry-run path comes before the {key} routes of the same shape.
CONTROLLERS = [
    triggers_page,
    create_trigger,
    dry_run_page,
    edit_page,
    update_trigger,
    deactivate_trigger,
]
API = [dry_run_api]
