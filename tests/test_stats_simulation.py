"""Every claim of the gap statistics' design table, on simulated data (seeded).

The designs live in bench/stats_simulation.py, which prints the full tables (4,000 data sets
per design) published in docs/statistics.md. Here each design runs 1,000 data sets and a
target is met when it holds within two Monte-Carlo standard errors: for a 95% coverage that
is ±1.4 points around the 92.5–97.5% band, for a 6% false-"clear" rate +1.5 points.

Engine-independent, so it runs in the SQLite pass only (tests/conftest.py leaves it out of
the PostgreSQL pass).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.stats_simulation import (
    CELL_DESIGNS,
    DEPARTMENT_DESIGNS,
    GAPS,
    ICCS,
    LEVELS,
    SCALE,
    cell_probabilities,
    cell_rates,
    department_rates,
    trend_rates,
)
from dashboards.stats import perception_gap, pooled_gap
from dashboards.stats.intervals import dirichlet_mean_batch

pytestmark = pytest.mark.simulation

SETS = 1000
DRAWS = 400


def margin(rate: float) -> float:
    """Two Monte-Carlo standard errors of a rate measured on SETS data sets."""
    return 2 * math.sqrt(rate * (1 - rate) / SETS)


LOW, HIGH = 0.925 - margin(0.925), 0.975 + margin(0.975)
MAX_FALSE_CLEAR = 0.06 + margin(0.06)


@pytest.mark.parametrize("gap", GAPS)
@pytest.mark.parametrize("design", sorted(CELL_DESIGNS))
def test_cell_interval_covers_in_every_design(design: str, gap: float) -> None:
    rates = cell_rates(design, gap, sets=SETS, seed=11 + len(design), draws=DRAWS)
    assert LOW <= rates.coverage <= HIGH, f"coverage {rates.coverage:.3f}"
    assert rates.zero_width == 0, "an interval of zero width"
    assert rates.widest < 100, "an interval reaching ±100"
    if gap == 0:
        assert rates.clear <= MAX_FALSE_CLEAR, f"false clear {rates.clear:.3f}"


def test_the_welch_interval_it_replaces_fails_a_small_team() -> None:
    """The measured reason for the change: Welch's interval misses at 50 customers / 6 employees."""
    rates = cell_rates(
        "very top-heavy", 0.0, sets=SETS, seed=5, method="welch", draws=DRAWS, verdicts=False
    )
    assert rates.coverage < 0.9


@pytest.mark.parametrize("gap", GAPS)
@pytest.mark.parametrize("icc", ICCS)
@pytest.mark.parametrize("shape", DEPARTMENT_DESIGNS, ids=lambda s: f"{s[0]}steps-{s[1]}raters")
def test_department_interval_with_correlated_raters(
    shape: tuple[int, int], icc: float, gap: float
) -> None:
    steps, raters = shape
    rates = department_rates(
        [200] * steps, [gap] * steps, raters, icc, sets=SETS, seed=31 + steps, draws=DRAWS
    )
    assert LOW <= rates.coverage <= HIGH, f"coverage {rates.coverage:.3f}"
    if gap == 0:
        assert rates.clear <= MAX_FALSE_CLEAR, f"false clear {rates.clear:.3f}"


def test_step_mix_cannot_invent_a_gap() -> None:
    """4,000 customers at gap 0 and 100 at gap +5: the department's gap stays between 0 and 5."""
    rates = department_rates([4000, 100], [0.0, 5.0], 10, 0.4, sets=SETS, seed=3, draws=DRAWS)
    assert 0 <= rates.mean_gap <= 5
    assert rates.clear <= MAX_FALSE_CLEAR
    assert LOW <= rates.coverage <= HIGH


def test_a_round_switch_is_not_a_trend() -> None:
    """13 weeks, rounds ending in weeks 4 and 10, 8 raters, nothing changes."""
    assert trend_rates(sets=SETS, seed=8) <= MAX_FALSE_CLEAR
    # Read as one series across the switch (as before), the same data show trends often.
    assert trend_rates(sets=SETS, seed=8, by_round=False) > 0.2


def test_perception_gap_uses_the_simulated_interval() -> None:
    """The batch the simulations run is the interval perception_gap shows (same draws)."""
    n_c, n_e, p_c, p_e = cell_probabilities("mid", 0.0)
    rng = np.random.default_rng(2)
    customers, employees = rng.multinomial(n_c, p_c), rng.multinomial(n_e, p_e)
    result = perception_gap(
        (LEVELS, customers), (LEVELS, employees), scale=SCALE, rng=np.random.default_rng(9)
    )
    generator = np.random.default_rng(9)
    e = dirichlet_mean_batch(LEVELS, employees[None], scale=SCALE, n_draws=4000, rng=generator)
    c = dirichlet_mean_batch(LEVELS, customers[None], scale=SCALE, n_draws=4000, rng=generator)
    low, high = np.quantile(25 * (e - c), [0.025, 0.975], axis=-1)
    assert result.gap_ci == pytest.approx((low[0], high[0]))


def test_pooled_gap_of_one_rater_table_matches_its_batch() -> None:
    """pooled_gap on one data set is the vectorised batch the simulations measure."""
    rng = np.random.default_rng(4)
    customers = {s: (LEVELS, rng.multinomial(200, [0.03, 0.07, 0.15, 0.35, 0.4])) for s in "ab"}
    employees = {
        f"r{i}": {"a": int(rng.integers(3, 6)), "b": int(rng.integers(2, 6))} for i in range(9)
    }
    first = pooled_gap(customers, employees, scales={"a": SCALE, "b": SCALE}, key="d")
    again = pooled_gap(
        customers,
        {f"x{i}": v for i, v in enumerate(reversed(employees.values()))},
        scales={"a": SCALE, "b": SCALE},
        key="d",
    )
    assert first == again  # rater ids and their order change nothing
    assert first.n_employees == 9 and first.method == "rater bootstrap"
    assert first.gap_ci.low < first.gap < first.gap_ci.high
