"""Admin JSON API for departments, journeys, steps and surveys (guards applied by the shell)."""

from litestar import get


@get("/departments")
async def _placeholder() -> list:
    return []


CATALOG_CONTROLLERS: list = [_placeholder]
