"""Data out: the gap table as JSON records, CSV and Parquet; raw customer responses.

CSV is opened in spreadsheets, where a cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage
return is read as a formula (LimeSurvey's CVE-2019-16184), and spreadsheets skip leading blanks
and read the full-width forms (＝＋－＠) as the ASCII ones. Every text cell whose first non-blank
character is one of those eight, or that begins with a tab, carriage return or line feed, gets
a leading `'`; number columns are left alone, so numbers stay numbers. Parquet keeps values as
they are. Employee ratings are never exported one by one: only the gap table carries them, as
the same cleared aggregates the pages show.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import date

import polars as pl

from dashboards import stats
from dashboards.filters import Filters
from dashboards.gaps import scope_cells
from dashboards.queries import Catalog, load_catalog, response_pages
from dashboards.rows import GapRecord, gap_record

# Blanks a spreadsheet may skip: ASCII and Unicode spaces, zero-width space, byte-order mark.
# Spelled as escapes both Python's re and polars' (Rust) regex read the same way.
BLANKS = r"[ \t\r\n\f\v\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]"
# A formula: after any blanks, one of these, ASCII or full-width; or a cell that starts with a
# tab, CR or LF at all.
FORMULA_PATTERN = rf"^(?:{BLANKS}*[=+\-@＝＋－＠]|[\t\r\n])"
_FORMULA = re.compile(FORMULA_PATTERN)
KEY_COLUMNS = ("department", "journey", "step", "question", "kind")
RESPONSE_COLUMNS = (
    "response_id",
    "submitted_at",
    "source",
    "department",
    "journey",
    "step",
    "question",
    "kind",
    "score",
    "choice",
    "text",
)


def neutralise(value: str) -> str:
    """A text cell a spreadsheet will not run: a leading `'` before formula characters."""
    return "'" + value if _FORMULA.match(value) else value


def neutralised(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with every text column neutralised (numbers, dates and booleans untouched)."""
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_PATTERN))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """CSV (UTF-8, header row, ISO dates) with formula characters neutralised."""
    return neutralised(frame).write_csv().encode("utf-8")


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    """The frame as a Parquet file."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def gap_frame(table: pl.DataFrame) -> pl.DataFrame:
    """The gap table in export order: keys, then the GapResult columns, then `suppression`."""
    keys = [k for k in KEY_COLUMNS if k in table.columns]
    return table.select(*keys, *stats.GAP_COLUMNS, "suppression")


def gap_records(table: pl.DataFrame) -> list[GapRecord]:
    """One API record per row: the keys, then the GapResult fields, intervals as [low, high].

    `gap_low`/`gap_high` become `gap_ci`, `relative_effect_low`/`_high` `relative_effect_ci`
    (null when either end is missing); every other column of `stats.GAP_COLUMNS` keeps its name.
    """
    return [gap_record(row) for row in gap_frame(table).iter_rows(named=True)]


async def responses_frame(
    catalog: Catalog,
    step_keys: Sequence[str],
    start: date,
    end: date,
    *,
    segments: Sequence[tuple[str, str]] = (),
) -> pl.DataFrame:
    """Raw customer responses (one row per answer) with a `segment.<name>` column per attribute."""
    pages = [
        pl.DataFrame(page, infer_schema_length=None)
        async for page in response_pages(catalog, step_keys, start, end, segments=segments)
    ]
    base = {
        "response_id": pl.Int64,
        "submitted_at": pl.Datetime("us", "UTC"),
        "source": pl.String,
        "department": pl.String,
        "journey": pl.String,
        "step": pl.String,
        "question": pl.String,
        "kind": pl.String,
        "score": pl.Int64,
        "choice": pl.String,
        "text": pl.String,
    }
    if not pages:
        return pl.DataFrame(schema=base)
    frame = pl.concat(
        [p.cast({k: v for k, v in base.items() if k in p.columns}) for p in pages],
        how="diagonal_relaxed",
    )
    segment_columns = sorted(c for c in frame.columns if c.startswith("segment."))
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in segment_columns)
    return frame.select(*RESPONSE_COLUMNS, *segment_columns)


async def filtered_responses(filters: Filters) -> pl.DataFrame:
    """The raw customer responses of a view (its journey, department, days and segments)."""
    catalog = await load_catalog()
    scope_cells(catalog, filters, filters.department)  # refuses an unknown journey or department
    steps = [key for key, info in catalog.steps.items() if filters.journey in (None, info.journey)]
    steps = [key for key in steps if filters.department in (None, catalog.steps[key].department)]
    return await responses_frame(
        catalog, steps, filters.start, filters.end, segments=filters.segments
    )
