"""The listening report from the console: a period and a department, as HTML (opens offline) or
as PDF (drawn by kaleido and Chromium, when installed). The report is `dashboards.report`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import anyio
from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.response import Template

from dashboards import report
from dashboards.filters import parse_filters
from listening.admin.console import NO_STORE, Section, page
from surveys import catalog
from surveys.clock import Clock
from surveys.errors import DomainError

SECTION = Section(
    "/admin/report",
    "Report",
    75,
    "Download the listening report (HTML or PDF) for a chosen period.",
)
FORMATS = {"html": "text/html", "pdf": "application/pdf"}


async def _page(
    request: Request,
    *,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    return page(
        request,
        "admin/report.html",
        SECTION,
        status_code=status_code,
        departments=[d for d in await catalog.list_departments() if d.active],
        pdf_possible=report.chromium() is not None,
        values=values,
        errors=errors or {},
    )


def _values(request: Request) -> dict[str, str]:
    params = request.query_params
    return {k: (params.get(k) or "").strip() for k in ("from", "to", "department", "format")}


@get("/admin/report", include_in_schema=False, cache_control=NO_STORE)
async def report_page(request: Request) -> Template:
    """The form: period, department, format."""
    return await _page(request, values=_values(request) | {"format": "html"})


def _pdf(built: report.Report) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "report.pdf"
        report.write_image(built, out)
        return out.read_bytes()


@get("/admin/report/download", include_in_schema=False, cache_control=NO_STORE)
async def download(
    request: Request, settings: NamedDependency[Any], clock: NamedDependency[Clock]
) -> Any:
    """The report file; a bad period or department is shown beside its field."""
    values = _values(request)
    kind = values["format"] or "html"
    try:
        if kind not in FORMATS:
            raise DomainError("Choose HTML or PDF.", field="format")
        filters = parse_filters(
            {k: v for k, v in values.items() if k != "format"}, today=clock().date()
        )
        department = filters.department
        if department and department not in {d.key for d in await catalog.list_departments()}:
            raise DomainError(f"no department {department!r}", field="department")
        built = await report.build_report(
            filters,
            department=department,
            threshold=settings.anonymity_threshold,
            comment_threshold=settings.comment_threshold,
            verdict_min_raters=settings.verdict_min_raters,
        )
        if kind == "pdf":
            try:
                body = await anyio.to_thread.run_sync(_pdf, built)
            except report.ReportError as exc:
                raise DomainError(str(exc), field="format") from None
        else:
            body = report.render_html(built, now=clock()).encode("utf-8")
    except DomainError as exc:
        return await _page(
            request,
            values=values,
            errors={exc.field or "": exc.message},
            status_code=exc.status_code,
        )
    name = f"listening-report-{department or 'all'}-{filters.end.isoformat()}.{kind}"
    return Response(
        body,
        media_type=FORMATS[kind],
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


CONTROLLERS = [report_page, download]
