"""The console's front page: every registered section with its summary, so a new section
appears here as it appears in the navigation."""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Template

from listening.admin.console import NO_STORE, Section, page

SECTION = Section(
    "/admin",
    "Overview",
    0,
    "What each section of the console is for.",
)


@get("/admin", include_in_schema=False, cache_control=NO_STORE)
async def overview(request: Request) -> Template:
    """The console's sections with a line on each."""
    return page(request, "admin/home.html", SECTION)


CONTROLLERS = [overview]
