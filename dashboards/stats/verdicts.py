"""One verdict per figure, from one rule, for cells and departments alike.

- None: the employee side is suppressed (anonymity, or nothing to compare).
- ``"indicative"``: fewer raters than the verdict's minimum, or every employee rating on one
  level: a number worth reading, too thin to call.
- ``"clear"``: the 95% interval of the gap excludes 0 and the Benjamini–Hochberg q-value of
  the figure's family is below 0.05.
- ``"not yet clear"``: otherwise.
"""

from __future__ import annotations

from enum import StrEnum

import polars as pl

VERDICT_MIN_RATERS = 10
CLEAR_BELOW = 0.05


class Verdict(StrEnum):
    """The verdicts a gap can carry."""

    INDICATIVE = "indicative"
    CLEAR = "clear"
    NOT_YET_CLEAR = "not yet clear"


def verdict(
    *,
    suppressed: bool,
    raters: int,
    one_level: bool,
    low: float | None,
    high: float | None,
    qvalue: float | None,
    min_raters: int = VERDICT_MIN_RATERS,
) -> Verdict | None:
    """The verdict of one gap (see the module); `qvalue` is the p-value of a family of one.

    Examples
    --------
    >>> verdict(suppressed=False, raters=12, one_level=False, low=2.0, high=9.0, qvalue=0.01)
    <Verdict.CLEAR: 'clear'>
    """
    if suppressed or low is None or high is None:
        return None
    if raters < min_raters or one_level:
        return Verdict.INDICATIVE
    excludes_zero = low > 0 or high < 0
    if excludes_zero and qvalue is not None and qvalue < CLEAR_BELOW:
        return Verdict.CLEAR
    return Verdict.NOT_YET_CLEAR


def family_verdicts(table: pl.DataFrame) -> pl.DataFrame:
    """Re-decide `verdict` from the family's `qvalue`: rows already None or indicative stay.

    The table has ``verdict``, ``gap_low``, ``gap_high`` and ``qvalue`` columns.
    """
    decided = pl.col("verdict").is_null() | (pl.col("verdict") == Verdict.INDICATIVE.value)
    excludes_zero = (pl.col("gap_low") > 0) | (pl.col("gap_high") < 0)
    clear = excludes_zero & (pl.col("qvalue") < CLEAR_BELOW).fill_null(False)
    return table.with_columns(
        verdict=pl.when(decided)
        .then(pl.col("verdict"))
        .when(clear)
        .then(pl.lit(Verdict.CLEAR.value))
        .otherwise(pl.lit(Verdict.NOT_YET_CLEAR.value))
    )
