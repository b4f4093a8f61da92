"""Bounded path and query parameters shared by controllers.

Row ids are 32-bit serials on PostgreSQL and 64-bit on SQLite: a larger number can name no row,
and passed on to the database it fails as an overflow (a 500) instead of a 400 or 404.
"""

from __future__ import annotations

from typing import Annotated

from litestar.params import PathParameter, QueryParameter

MAX_ROW_ID = 2**31 - 1

RowId = Annotated[int, PathParameter(ge=1, le=MAX_ROW_ID)]
"""A row id in the path: /api/rounds/{round_id:int}."""

RowIdQuery = Annotated[int | None, QueryParameter(ge=1, le=MAX_ROW_ID)]
"""An optional row id in the query string: ?round=3."""

Offset = Annotated[int, QueryParameter(ge=0, le=MAX_ROW_ID)]
"""How many rows a listing skips: ?offset=100."""
