"""Perception-gap statistics: pure functions of counts per score level.

Every function that takes scores also takes counts per level, either a mapping
``{level: count}`` or a pair of arrays ``(levels, counts)``, and gives the same result.
Everything is computed from level counts (ranks are midranks of tied levels), never from
expanded raw vectors, so a million customers cost no more than a hundred.

Results are frozen dataclasses using scipy's vocabulary (``statistic``, ``df``, ``pvalue``,
``confidence_interval``); every interval is a ``ConfidenceInterval(low, high)``. No result
holds NaN or infinity: a value that is undefined is None.

One module per family of methods, re-exported here so ``from dashboards.stats import …`` is
the one import path: ``levels`` (inputs), ``intervals``, ``rank_tests``, ``effect_sizes``,
``nps``, ``multiplicity``, ``gaps`` (one cell, and tables of cells), ``pooled`` (departments
and the organisation), ``verdicts``, ``seeding``, ``trends``, ``planning``.
"""

from dashboards.stats.effect_sizes import CliffsDeltaResult, cliffs_delta, delta_magnitude
from dashboards.stats.gaps import (
    GAP_COLUMNS,
    GAP_SCHEMA,
    GapResult,
    gap_row,
    gap_table,
    perception_gap,
    with_qvalues,
)
from dashboards.stats.intervals import (
    ConfidenceInterval,
    WelchResult,
    bootstrap_t_interval,
    dirichlet_gap_interval,
    welch_gap,
)
from dashboards.stats.levels import LevelCounts, level_counts
from dashboards.stats.multiplicity import adjust_pvalues
from dashboards.stats.nps import NPSResult, nps
from dashboards.stats.planning import ResponsesNeeded, responses_needed
from dashboards.stats.pooled import pooled_gap
from dashboards.stats.rank_tests import BrunnerMunzelResult, brunner_munzel
from dashboards.stats.seeding import data_seed, seeded
from dashboards.stats.trends import (
    TREND_COLUMNS,
    GapChange,
    TrendResult,
    gap_change,
    gap_trend,
    theil_sen_trend,
)
from dashboards.stats.verdicts import VERDICT_MIN_RATERS, Verdict, family_verdicts, verdict

__all__ = [
    "GAP_COLUMNS",
    "GAP_SCHEMA",
    "TREND_COLUMNS",
    "VERDICT_MIN_RATERS",
    "BrunnerMunzelResult",
    "CliffsDeltaResult",
    "ConfidenceInterval",
    "GapChange",
    "GapResult",
    "LevelCounts",
    "NPSResult",
    "ResponsesNeeded",
    "TrendResult",
    "Verdict",
    "WelchResult",
    "adjust_pvalues",
    "bootstrap_t_interval",
    "brunner_munzel",
    "cliffs_delta",
    "data_seed",
    "delta_magnitude",
    "dirichlet_gap_interval",
    "family_verdicts",
    "gap_change",
    "gap_row",
    "gap_table",
    "gap_trend",
    "level_counts",
    "nps",
    "perception_gap",
    "pooled_gap",
    "responses_needed",
    "seeded",
    "theil_sen_trend",
    "verdict",
    "welch_gap",
    "with_qvalues",
]
