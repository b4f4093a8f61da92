"""HTTP for the dashboards: the pages, the gap API and the exports (guards applied by the shell).

Filters travel in the URL (see `dashboards.filters`), so a view can be shared as a link.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from functools import cache
from typing import Annotated, Any, Literal

import polars as pl
from litestar import Controller, MediaType, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from dashboards import exports, focus, gaps, pages, report
from dashboards.audience import team_words
from dashboards.filters import (
    FIRST_DAY,
    LAST_DAY,
    MAX_DAYS,
    SEGMENT_NAME_MAX,
    SEGMENT_VALUE_MAX,
    Filters,
    parse_filters,
)
from dashboards.queries import day_start, load_catalog
from dashboards.rows import GapRecord, gap_record, values_of
from surveys.clock import Clock
from surveys.errors import Invalid
from surveys.rounds import rounds_in

CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"

# The filters every page and API of the dashboards reads (parsed by `parse_filters`, which
# answers 400 naming the parameter), declared so the schema carries them with their bounds.
_DAY = r"(19[7-9][0-9]|20[0-9][0-9]|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_BOUNDS = f"between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}"
FILTER_PARAMETERS = {
    "from_": QueryParameter(
        annotation=str,
        name="from",
        required=False,
        pattern=f"^{_DAY}$",
        description=f"First day of the view (ISO date {_BOUNDS}; default 90 days before `to`); "
        f"a view spans at most {MAX_DAYS} days.",
    ),
    "to": QueryParameter(
        annotation=str,
        name="to",
        required=False,
        pattern=f"^{_DAY}$",
        description=f"Last day of the view (ISO date {_BOUNDS}; default today).",
    ),
    "journey": QueryParameter(
        annotation=str,
        name="journey",
        required=False,
        max_length=100,
        description="A journey's key.",
    ),
    "segment": QueryParameter(
        annotation=str,
        name="segment",
        required=False,
        max_length=20 * (SEGMENT_NAME_MAX + SEGMENT_VALUE_MAX + 2),
        description="Customer segments as attribute=value, several joined by ';' (the same as "
        "segment.<attribute>=<value> parameters, which combine with AND).",
    ),
    "compare": QueryParameter(
        annotation=str,
        name="compare",
        required=False,
        pattern=f"^(previous|{_DAY}\\.\\.{_DAY})$",
        description="`previous` (the period of the same length just before) or a range "
        f"YYYY-MM-DD..YYYY-MM-DD {_BOUNDS}, at most {MAX_DAYS} days.",
    ),
    "period": QueryParameter(
        annotation=Literal["week", "month"],
        name="period",
        required=False,
        description="Trend periods (default week up to half a year, month beyond).",
    ),
}
# A page answers a filter it cannot use with the filter form again, as HTML.
PAGE_ERRORS = {
    400: ResponseSpec(
        data_container=str, media_type=MediaType.HTML, description="The filters, with the error"
    )
}
API_FILTER_PARAMETERS = {
    **FILTER_PARAMETERS,
    "department": QueryParameter(
        annotation=str,
        name="department",
        required=False,
        max_length=100,
        description="A department's key.",
    ),
}


def _filters(request: Request, clock: Clock) -> Filters:
    now = clock()
    return replace(parse_filters(dict(request.query_params.items()), today=now.date()), now=now)


async def own_department(request: Request) -> str | None:
    """The one department an employee may see (None: executives and admins see all)."""
    user = request.scope.get("user")
    roles = getattr(user, "roles", ())
    if "executive" in roles or "admin" in roles:
        return None
    department_id = getattr(user, "department_id", None)
    if "employee" not in roles or department_id is None:
        raise PermissionDeniedException("Your account cannot open the dashboards.")
    catalog = await load_catalog()
    key = next((k for k, d in catalog.departments.items() if d.id == department_id), None)
    if key is None:
        raise PermissionDeniedException("Your department has no results to show.")
    return key


async def _scoped_filters(request: Request, clock: Clock) -> Filters:
    """The view's filters, narrowed to the caller's department for employees."""
    filters = _filters(request, clock)
    own = await own_department(request)
    if own is not None:
        if filters.department not in (None, own):
            raise PermissionDeniedException("You can see your own department's results only.")
        filters = replace(filters, department=own)
    return filters


async def _gap_table(filters: Filters, settings: Any) -> pl.DataFrame:
    """The view's gap table under the anonymity and verdict rules of the settings."""
    return await gaps.gap_rows(
        filters,
        threshold=settings.anonymity_threshold,
        verdict_min_raters=settings.verdict_min_raters,
    )


async def _filter_problem(request: Request, error: Invalid, action: str) -> Template:
    """The filter form again, with the submitted values, the message and a way back.

    A page answers with a page; only a client that asks for JSON gets the refusal as JSON.
    """
    if request.accept.best_match(["text/html", "application/json"]) == "application/json":
        raise error
    return Template(
        "dashboards/filter_error.html",
        context={
            "message": error.message,
            "field": error.field,
            "form": pages.form_values(dict(request.query_params.items())),
            "action": action,
            "journeys": (await load_catalog()).journeys,
        },
        status_code=error.status_code,
        media_type=MediaType.HTML,
    )


def _download(body: bytes, media_type: str, name: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "no-store",
        },
    )


class DashboardPages(Controller):
    """The org overview and the department pages (executives and admins; employees see their
    own department's page, read-only)."""

    tags = ["pages"]
    parameters = FILTER_PARAMETERS

    @get("/dashboards", media_type=MediaType.HTML, responses=PAGE_ERRORS)
    async def overview(
        self, request: Request, settings: NamedDependency[Any], clock: NamedDependency[Clock]
    ) -> Template | Redirect:
        """The org overview: where to act, headline, departments sorted by gap, trends."""
        own = await own_department(request)
        if own is not None:
            query = request.url.query
            return Redirect(path=f"/dashboards/{own}" + (f"?{query}" if query else ""))
        try:
            filters = _filters(request, clock)
            view, basis = await gaps.overview(
                filters,
                threshold=settings.anonymity_threshold,
                verdict_min_raters=settings.verdict_min_raters,
            )
        except Invalid as error:
            return await _filter_problem(request, error, "/dashboards")
        # Only executives and admins reach the overview: employees were sent to their page.
        team = team_words(own)
        # Where to act ranks the cells of the counts the overview read.
        rules = {
            "threshold": settings.anonymity_threshold,
            "verdict_min_raters": settings.verdict_min_raters,
        }
        items = await focus.items(
            basis.catalog, focus.cell_rows(basis, filters, rules), filters, team=team
        )
        return Template(
            "dashboards/overview.html",
            context=pages.overview_context(view, team) | {"focus": items},
            media_type=MediaType.HTML,
        )

    @get("/dashboards/{department_key:str}", media_type=MediaType.HTML, responses=PAGE_ERRORS)
    async def department(
        self,
        request: Request,
        department_key: FromPath[str],
        settings: NamedDependency[Any],
        clock: NamedDependency[Clock],
    ) -> Template:
        """A department's page: where to act, journey map, gaps, spread, trends, comments."""
        own = await own_department(request)
        if own is not None and own != department_key:
            raise PermissionDeniedException("You can see your own department's results only.")
        try:
            filters = _filters(request, clock)
            view = await gaps.department_view(
                department_key,
                filters,
                threshold=settings.anonymity_threshold,
                comment_threshold=settings.comment_threshold,
                verdict_min_raters=settings.verdict_min_raters,
            )
        except Invalid as error:
            return await _filter_problem(request, error, f"/dashboards/{department_key}")
        team = team_words(own)
        items = await focus.items(await load_catalog(), view.cells, filters, limit=3, team=team)
        ended = await rounds_in(
            day_start(filters.start), day_start(filters.end + timedelta(days=1))
        )
        ends = [r.ends_at.date() for r in ended if department_key in r.departments]
        context = pages.department_context(view, round_ends=ends, team=team) | {
            "focus": items,
            "employee_view": own,
        }
        if own is not None:
            context["department_links"] = []
        return Template("dashboards/department.html", context=context, media_type=MediaType.HTML)

    @get("/report", media_type=MediaType.HTML)
    async def report_download(
        self,
        request: Request,
        settings: NamedDependency[Any],
        clock: NamedDependency[Clock],
        # Declared for the schema and its bound; read with the other filters below.
        department: Annotated[str | None, API_FILTER_PARAMETERS["department"]] = None,
    ) -> Response:
        """The view as a standalone HTML report (the overview, or `department=` one page)."""
        filters = await _scoped_filters(request, clock)
        built = await report.build_report(
            filters,
            department=filters.department,
            threshold=settings.anonymity_threshold,
            comment_threshold=settings.comment_threshold,
            verdict_min_raters=settings.verdict_min_raters,
            team=team_words(await own_department(request)),
        )
        name = f"listening-report-{filters.department or 'all'}-{filters.end.isoformat()}.html"
        return _download(report.render_html(built).encode("utf-8"), "text/html", name)


class GapsApi(Controller):
    """The gap table and the raw customer responses as data (executive session or admin key)."""

    path = "/api"
    tags = ["dashboards"]
    parameters = API_FILTER_PARAMETERS

    @get(
        "/gaps",
        summary="Gap table: department × step × rating question",
        description=(
            "Filters: department, journey, from, to (ISO dates), segment.<attribute>=<value>. "
            "One object per cell with the GapResult fields of dashboards.stats (intervals as "
            "[low, high]), qvalue (Benjamini–Hochberg over the organisation's cells of the "
            "view) and suppression. level=department: one row per department (its pooled gap) "
            "with the same fields."
        ),
    )
    async def gaps_json(
        self,
        request: Request,
        settings: NamedDependency[Any],
        clock: NamedDependency[Clock],
        level: Annotated[
            str,
            QueryParameter(
                description="`cell` (default) or `department`.",
                schema_extra={"enum": ["cell", "department"]},
            ),
        ] = "cell",
    ) -> list[GapRecord]:
        """The gap table as JSON: cells, or departments with `level=department`."""
        if level not in ("cell", "department"):
            raise Invalid("level must be cell or department", field="level")
        filters = await _scoped_filters(request, clock)
        if level == "department":
            return await _department_records(
                filters, settings.anonymity_threshold, settings.verdict_min_raters
            )
        return exports.gap_records(await _gap_table(filters, settings))

    @get(
        "/focus",
        summary="Where to act: the steps to work on first, ranked",
        description=(
            "Same filters as /api/gaps. Executives and admins get the organisation's steps (or "
            "`department=`'s), an employee their own department's. Each item: department, step, "
            "question, gap, gap_ci, verdict, n_customers, open_follow_ups, comments {count, "
            "shown (up to three)}, next_step (a sentence naming the raters as the caller reads "
            "them: 'employees' for executives and admins, 'your team' for an employee), with "
            "scores and trend in words."
        ),
    )
    async def focus_json(
        self, request: Request, settings: NamedDependency[Any], clock: NamedDependency[Clock]
    ) -> list[focus.FocusItem]:
        """The ranked items of the view."""
        filters = await _scoped_filters(request, clock)
        items = await focus.focus(
            filters,
            threshold=settings.anonymity_threshold,
            verdict_min_raters=settings.verdict_min_raters,
            department=filters.department,
            team=team_words(await own_department(request)),
        )
        return items

    @get("/gaps.csv", summary="Gap table as CSV", media_type=CSV)
    async def gaps_csv(
        self, request: Request, settings: NamedDependency[Any], clock: NamedDependency[Clock]
    ) -> Response:
        """The gap table as CSV (formula characters neutralised)."""
        table = await _gap_table(await _scoped_filters(request, clock), settings)
        return _download(exports.csv_bytes(exports.gap_frame(table)), CSV, "gaps.csv")

    @get("/gaps.parquet", summary="Gap table as Parquet", media_type=PARQUET)
    async def gaps_parquet(
        self, request: Request, settings: NamedDependency[Any], clock: NamedDependency[Clock]
    ) -> Response:
        """The gap table as Parquet."""
        table = await _gap_table(await _scoped_filters(request, clock), settings)
        return _download(exports.parquet_bytes(exports.gap_frame(table)), PARQUET, "gaps.parquet")

    @get("/responses.csv", summary="Raw customer responses as CSV", media_type=CSV)
    async def responses_csv(self, request: Request, clock: NamedDependency[Clock]) -> Response:
        """Customer responses, one row per answer, with segment attributes (never employees)."""
        await _leaders_only(request)
        frame = await exports.filtered_responses(_filters(request, clock))
        return _download(exports.csv_bytes(frame), CSV, "responses.csv")

    @get("/responses.parquet", summary="Raw customer responses as Parquet", media_type=PARQUET)
    async def responses_parquet(self, request: Request, clock: NamedDependency[Clock]) -> Response:
        """Customer responses as Parquet."""
        await _leaders_only(request)
        frame = await exports.filtered_responses(_filters(request, clock))
        return _download(exports.parquet_bytes(frame), PARQUET, "responses.parquet")


async def _leaders_only(request: Request) -> None:
    if await own_department(request) is not None:
        raise PermissionDeniedException("Raw customer responses are for executives and admins.")


async def _department_records(
    filters: Filters, threshold: int, verdict_min_raters: int
) -> list[GapRecord]:
    """One record per department (its pooled gap), the fields of a cell record."""
    view, _ = await gaps.overview(
        replace(filters, department=None),
        threshold=threshold,
        verdict_min_raters=verdict_min_raters,
    )
    return [
        gap_record(values_of(r))
        for r in view.departments
        if filters.department in (None, r.department)
    ]


@cache
def _plotly_js() -> bytes:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode("utf-8")


@get(
    "/static/dashboards/plotly.min.js",
    include_in_schema=False,
    media_type="text/javascript",
)
async def plotly_js() -> Response:
    """plotly.js from the installed plotly package (the pages never load it from a CDN)."""
    return Response(
        _plotly_js(),
        media_type="text/javascript",
        headers={"cache-control": "public, max-age=86400"},
    )


DASHBOARD_CONTROLLERS: list = [DashboardPages, GapsApi]
PUBLIC_ROUTES: list = [plotly_js]
