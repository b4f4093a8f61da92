"""Import and export of the whole configuration as the journey TOML file.

The export holds what `listening load` reads: departments, journeys, steps, surveys, the global
contact-frequency rule and the triggers; loading the export changes nothing. An import is the
same load as `listening load`, in one transaction, recorded in the audit log.
"""

from __future__ import annotations

from typing import Any

import tomli_w
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.response import Template

from listening import trigger_admin
from listening.admin.console import NO_STORE, Section, actor, page, text
from listening.admin.triggers import duration_text
from listening.journeys import load_journey_file
from listening.tables import Setting
from listening.trigger_file import QUARANTINE_SETTING
from surveys import audit
from surveys.errors import DomainError
from surveys.journey_export import organisation_document

SECTION = Section(
    "/admin/configuration",
    "Import / export",
    80,
    "Download the whole configuration as the journey TOML file, or load one.",
)
MAX_FILE_BYTES = 2_000_000


def _trigger(t: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": t.key,
        "event_type": t.event_type,
        "step": t.step,
        "channel": t.channel,
        "sample_percent": t.sample_percent,
        "delay": duration_text(t.delay_seconds) or "0s",
        "expires_after": duration_text(t.expires_after_seconds),
        "max_event_age": duration_text(t.max_event_age_seconds),
    }
    if t.webhook_url:
        out["webhook_url"] = t.webhook_url
    if t.quarantine_seconds is not None:
        out["quarantine"] = duration_text(t.quarantine_seconds) or "0s"
    if t.reminder_after_seconds is not None:
        out["reminder_after"] = duration_text(t.reminder_after_seconds)
    if t.filters:
        out["filters"] = t.filters
    if not t.active:
        out["active"] = False
    return out


async def export_document() -> dict[str, Any]:
    """The whole configuration as a journey document."""
    doc: dict[str, Any] = {}
    row = await Setting.select(Setting.value).where(Setting.key == QUARANTINE_SETTING)
    if row:
        doc["settings"] = {"quarantine": duration_text(int(row[0]["value"])) or "0s"}
    organisation = await organisation_document()
    # The journey file's order: the organisation, the settings, then the rest.
    doc = {k: organisation.pop(k) for k in ("organisation",) if k in organisation} | doc
    doc |= organisation
    doc["triggers"] = [_trigger(t) for t in await trigger_admin.list_triggers()]
    return {k: v for k, v in doc.items() if v != []}


async def export_toml() -> str:
    """The whole configuration as journey TOML text."""
    return tomli_w.dumps(await export_document())


def _summary_lines(summary: Any) -> list[str]:
    lines = [
        f"{outcome}: " + ", ".join(f"{n} {kind}" for kind, n in counts.items())
        for outcome in ("created", "updated")
        if (counts := getattr(summary, outcome))
    ]
    lines += [
        f"new survey version (the old one has answers): {v}" for v in summary.new_survey_versions
    ]
    return lines or ["Nothing to change: the file matches the configuration."]


def _page(request: Request, **context: Any) -> Template:
    return page(request, "admin/configuration.html", SECTION, **context)


@get("/admin/configuration", include_in_schema=False, cache_control=NO_STORE)
async def configuration_page(request: Request) -> Template:
    """Download the configuration, or load a journey file."""
    return _page(request, values={"toml": ""})


@get("/admin/configuration/export", include_in_schema=False, cache_control=NO_STORE)
async def export(request: Request) -> Response[str]:
    """The configuration as a journey TOML file to download."""
    return Response(
        await export_toml(),
        media_type="application/toml; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="journey.toml"'},
    )


@post("/admin/configuration/import", include_in_schema=False, status_code=200)
async def import_file(request: Request) -> Template:
    """Load a journey file (uploaded or pasted) in one transaction."""
    form = await request.form()
    upload = form.get("file")
    source = text(form, "toml")
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read(MAX_FILE_BYTES + 1)
        try:
            source = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _page(
                request,
                values={"toml": ""},
                errors={"file": "The file is not UTF-8 text."},
                status_code=422,
            )
    if not source.strip():
        return _page(
            request,
            values={"toml": ""},
            errors={"toml": "Choose a journey file or paste its text."},
            status_code=422,
        )
    try:
        summary = await load_journey_file(source)
    except DomainError as exc:
        where = f"{exc.field}: " if exc.field and exc.field not in exc.message else ""
        return _page(
            request,
            values={"toml": source},
            errors={"toml": where + exc.message},
            status_code=exc.status_code,
        )
    if summary.changed:
        await audit.record(actor(request), "configuration", "load", "journey file", after=summary)
    return _page(request, values={"toml": ""}, loaded=_summary_lines(summary))


CONTROLLERS = [configuration_page, export, import_file]
