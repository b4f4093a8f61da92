"""HTTP for the dashboards: the pages, the gap API and the exports (guards applied by the shell).

Filters travel in the URL (see `dashboards.filters`), so a view can be shared as a link.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Template

from dashboards import exports, gaps, pages
from dashboards.filters import (
    FIRST_DAY,
    LAST_DAY,
    MAX_DAYS,
    SEGMENT_NAME_MAX,
    SEGMENT_VALUE_MAX,
    Filters,
    parse_filters,
)
from surveys.clock import Clock

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
    return parse_filters(dict(request.query_params.items()), today=clock().date())


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
    """The org overview and the department pages (executives and admins)."""

    tags = ["pages"]
    parameters = FILTER_PARAMETERS

    @get("/dashboards")
    async def overview(
        self, request: Request, settings: NamedDependency[Any], clock: NamedDependency[Clock]
    ) -> Template:
        """The org overview: headline, departments sorted by gap, trends."""
        view = await gaps.overview(_filters(request, clock), threshold=settings.anonymity_threshold)
        return Template("dashboards/overview.html", context=pages.overview_context(view))

    @get("/dashboards/{department_key:str}")
    async def department(
        self,
        request: Request,
        department_key: FromPath[str],
        settings: NamedDependency[Any],
        clock: NamedDependency[Clock],
    ) -> Template:
        """A department's page: journey map, gaps, spread, trends, comments, follow-ups."""
        view = await gaps.department_view(
            department_key,
            _filters(request, clock),
            threshold=settings.anonymity_threshold,
            comment_threshold=settings.comment_threshold,
        )
        return Template("dashboards/department.html", context=pages.department_context(view))


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
            "[low, high]), qvalue (Benjamini–Hochberg over the rows returned) and suppression."
        ),
    )
    async def gaps_json(
        self, request: Request, settings: NamedDependency[Any], clock: NamedDependency[Clock]
    ) -> list[dict[str, Any]]:
        """The gap table as JSON."""
        table = await gaps.gap_rows(
            _filters(request, clock), threshold=settings.anonymity_threshold
        )
        return exports.gap_records(table)

    @get("/gaps.csv", summary="Gap table as CSV", media_type=CSV)
    async def gaps_csv(
        self, request: Request, settings: NamedDependency[Any], clock: NamedDependency[Clock]
    ) -> Response:
        """The gap table as CSV (formula characters neutralised)."""
        table = await gaps.gap_rows(
            _filters(request, clock), threshold=settings.anonymity_threshold
        )
        return _download(exports.csv_bytes(exports.gap_frame(table)), CSV, "gaps.csv")

    @get("/gaps.parquet", summary="Gap table as Parquet", media_type=PARQUET)
    async def gaps_parquet(
        self, request: Request, settings: NamedDependency[Any], clock: NamedDependency[Clock]
    ) -> Response:
        """The gap table as Parquet."""
        table = await gaps.gap_rows(
            _filters(request, clock), threshold=settings.anonymity_threshold
        )
        return _download(exports.parquet_bytes(exports.gap_frame(table)), PARQUET, "gaps.parquet")

    @get("/responses.csv", summary="Raw customer responses as CSV", media_type=CSV)
    async def responses_csv(self, request: Request, clock: NamedDependency[Clock]) -> Response:
        """Customer responses, one row per answer, with segment attributes (never employees)."""
        frame = await exports.filtered_responses(_filters(request, clock))
        return _download(exports.csv_bytes(frame), CSV, "responses.csv")

    @get("/responses.parquet", summary="Raw customer responses as Parquet", media_type=PARQUET)
    async def responses_parquet(self, request: Request, clock: NamedDependency[Clock]) -> Response:
        """Customer responses as Parquet."""
        frame = await exports.filtered_responses(_filters(request, clock))
        return _download(exports.parquet_bytes(frame), PARQUET, "responses.parquet")


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
