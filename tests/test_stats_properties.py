"""Properties of dashboards.stats that must hold for any data (hypothesis)."""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboards.stats import (
    GAP_COLUMNS,
    TREND_COLUMNS,
    ConfidenceInterval,
    adjust_pvalues,
    brunner_munzel,
    cliffs_delta,
    gap_change,
    gap_table,
    gap_trend,
    level_counts,
    nps,
    perception_gap,
    pooled_gap,
    responses_needed,
    seeded,
    theil_sen_trend,
    verdict,
    welch_gap,
)

FAST = settings(max_examples=60, deadline=None)
scores = st.lists(st.integers(1, 5), min_size=1, max_size=25)
groups_of_two = st.lists(st.integers(1, 5), min_size=2, max_size=25)
nps_scores = st.lists(st.integers(0, 10), min_size=1, max_size=40)


def numbers_in(result: object) -> list[float]:
    """Every number held by a result dataclass, intervals included."""
    found = []
    for value in dataclasses.astuple(result):
        items = value if isinstance(value, tuple) else (value,)
        found += [v for v in items if isinstance(v, int | float) and not isinstance(v, bool)]
    return found


def assert_finite(result: object) -> None:
    assert all(math.isfinite(v) for v in numbers_in(result)), result


def assert_contains(interval: ConfidenceInterval | None, estimate: float | None) -> None:
    if interval is not None:
        assert interval.low <= estimate + 1e-12 and estimate - 1e-12 <= interval.high


def as_counts(values: list[int]) -> dict[int, int]:
    return dict(Counter(values))


def as_pair(values: list[int]) -> tuple[list[int], list[int]]:
    counter = Counter(values)
    return list(counter), list(counter.values())


# Symmetry ------------------------------------------------------------------------------


@FAST
@given(scores, scores)
def test_swapping_groups_negates_delta_and_mirrors_relative_effect(x, y) -> None:
    forward, backward = cliffs_delta(x, y), cliffs_delta(y, x)
    assert forward.delta == pytest.approx(-backward.delta, abs=1e-12)
    assert forward.confidence_interval.low == pytest.approx(-backward.confidence_interval.high)
    assert forward.magnitude == backward.magnitude
    a, b = brunner_munzel(x, y, method="t"), brunner_munzel(y, x, method="t")
    assert a.relative_effect == pytest.approx(1 - b.relative_effect, abs=1e-12)
    assert a.statistic == pytest.approx(-b.statistic, abs=1e-9)
    assert a.pvalue == pytest.approx(b.pvalue, abs=1e-12)
    assert a.confidence_interval.low == pytest.approx(1 - b.confidence_interval.high, abs=1e-12)


@FAST
@given(groups_of_two, groups_of_two)
def test_welch_swap_negates_difference(x, y) -> None:
    a, b = welch_gap(x, y), welch_gap(y, x)
    assert a.difference == pytest.approx(-b.difference, abs=1e-12)
    if a.confidence_interval is not None:
        assert a.confidence_interval.low == pytest.approx(-b.confidence_interval.high)


# Input forms and order -----------------------------------------------------------------


@FAST
@given(scores, scores, st.randoms(use_true_random=False))
def test_order_and_input_form_do_not_matter(x, y, shuffler: random.Random) -> None:
    shuffled = list(x)
    shuffler.shuffle(shuffled)
    for x_form in (shuffled, as_counts(x), as_pair(x), np.array(x)):
        assert brunner_munzel(x_form, as_pair(y), method="t") == brunner_munzel(x, y, method="t")
        assert cliffs_delta(x_form, y) == cliffs_delta(x, y)
        assert welch_gap(x_form, as_counts(y)) == welch_gap(x, y)
    seeded = {"rng": 7, "n_resamples": 49}
    assert brunner_munzel(x, y, method="permutation", **seeded) == brunner_munzel(
        as_counts(x), as_pair(y), method="permutation", **seeded
    )


@FAST
@given(scores, scores, st.integers(3, 6))
def test_perception_gap_counts_and_raw_agree(customers, employees, min_employees) -> None:
    options = {"scale": (1, 5), "min_employees": min_employees, "rng": 3, "n_resamples": 49}
    raw = perception_gap(customers, employees, n_draws=49, **options)
    counted = perception_gap(as_counts(customers), as_pair(employees), n_draws=49, **options)
    assert raw == counted


@FAST
@given(nps_scores)
def test_nps_counts_and_raw_agree(values) -> None:
    for method in ("adjusted-wald", "wald", "score"):
        assert nps(values, method=method) == nps(as_counts(values), method=method)


def test_level_counts_merges_repeated_levels_and_drops_zeros() -> None:
    merged = level_counts(([3, 1, 3, 2], [2, 1, 5, 0]))
    assert merged.levels.tolist() == [1.0, 3.0] and merged.counts.tolist() == [1, 7]
    assert level_counts([5, 5, 4]).counts.tolist() == [1, 2]
    assert level_counts((4, 5)).levels.tolist() == [4.0, 5.0]  # two scores, not a pair


# Ranges, intervals, finiteness ---------------------------------------------------------


@FAST
@given(scores, scores, st.sampled_from(["two-sided", "less", "greater"]))
def test_brunner_munzel_in_range_finite_and_covering(x, y, alternative) -> None:
    for method in ("t", "permutation"):
        result = brunner_munzel(x, y, alternative=alternative, method=method, n_resamples=99, rng=0)
        assert_finite(result)
        assert 0 <= result.pvalue <= 1
        assert 0 <= result.confidence_interval.low <= result.confidence_interval.high <= 1
        assert_contains(result.confidence_interval, result.relative_effect)


@FAST
@given(scores, scores)
def test_one_sided_pvalues_add_up(x, y) -> None:
    less = brunner_munzel(x, y, alternative="less", method="t").pvalue
    greater = brunner_munzel(x, y, alternative="greater", method="t").pvalue
    assert less + greater == pytest.approx(1.0)


@FAST
@given(scores, scores)
def test_cliffs_delta_in_range_and_covering(x, y) -> None:
    result = cliffs_delta(x, y)
    assert_finite(result)
    assert -1 <= result.confidence_interval.low <= result.confidence_interval.high <= 1
    assert_contains(result.confidence_interval, result.delta)
    assert result.magnitude in {"negligible", "small", "medium", "large"}


@FAST
@given(scores, scores)
def test_welch_is_finite_or_none(x, y) -> None:
    result = welch_gap(x, y)
    assert_finite(result)
    if result.pvalue is not None:
        assert 0 <= result.pvalue <= 1
    assert_contains(result.confidence_interval, result.difference)


@FAST
@given(nps_scores, st.sampled_from(["adjusted-wald", "wald", "score"]))
def test_nps_interval_in_range(values, method) -> None:
    result = nps(values, method=method)
    assert_finite(result)
    assert -100 <= result.confidence_interval.low <= result.confidence_interval.high <= 100
    assert result.promoters + result.passives + result.detractors == result.n == len(values)
    if method != "adjusted-wald" or result.n > 1:
        # Rocks' adjusted centre is shrunk towards 0: for n = 1 it can exclude ±100.
        assert_contains(result.confidence_interval, result.score)


@FAST
@given(scores, scores, st.integers(3, 8))
def test_perception_gap_finite_and_covering(customers, employees, min_employees) -> None:
    result = perception_gap(
        customers,
        employees,
        scale=(1, 5),
        min_employees=min_employees,
        rng=1,
        n_resamples=49,
        n_draws=49,
    )
    assert_finite(result)
    if result.suppressed:
        return
    assert 0 <= result.customer_score <= 100 and 0 <= result.employee_score <= 100
    assert result.gap == pytest.approx(result.employee_score - result.customer_score)
    assert_contains(result.gap_ci, result.gap)
    assert_contains(result.relative_effect_ci, result.relative_effect)
    assert result.cliffs_delta == pytest.approx(2 * result.relative_effect - 1)
    assert 0 <= result.pvalue <= 1
    assert result.method == ("permutation" if min(len(customers), len(employees)) < 15 else "t")


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([3], [3]),
        ([1], [5]),
        ([4, 4, 4], [4, 4, 4, 4]),
        ([1, 1, 1], [5, 5, 5, 5]),
        ([5] * 40, [1] * 3),
        ([2], [1, 2, 3]),
        ([2, 2], [2]),
    ],
)
def test_degenerate_data_give_finite_results(x, y) -> None:
    for method in ("t", "permutation"):
        result = brunner_munzel(x, y, method=method, n_resamples=99, rng=0)
        assert_finite(result)
        assert 0 <= result.pvalue <= 1
    assert_finite(welch_gap(x, y))
    assert_finite(cliffs_delta(x, y))
    assert_finite(perception_gap(y, x, scale=(1, 5), min_employees=3, rng=0))


def test_complete_separation_uses_the_guard() -> None:
    result = brunner_munzel([1, 1, 2], [4, 5, 5], method="t")
    assert result.relative_effect == 1.0
    assert result.df == 1000.0  # undefined Satterthwaite df falls back to 1000
    assert result.standard_error == pytest.approx(math.sqrt(1 / (2 * 3 * 3)))
    assert result.statistic == pytest.approx((1 - 1e-4 - 0.5) / result.standard_error)


# Errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: welch_gap([], [1, 2]), "x"),
        (lambda: welch_gap([1, 2], {}), "y"),
        (lambda: brunner_munzel(([], []), [1]), "x"),
        (lambda: brunner_munzel([1], {3: 0}), "y"),
        (lambda: cliffs_delta([], [1]), "x"),
        (lambda: nps([]), "scores"),
        (lambda: adjust_pvalues([]), "pvalues"),
    ],
)
def test_empty_input_raises_naming_the_argument(call, name) -> None:
    with pytest.raises(ValueError, match=f"^{name} is empty"):
        call()


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="min_employees"):
        perception_gap([3], [3, 3, 3], scale=(1, 5), min_employees=2)
    with pytest.raises(ValueError, match="employee has scores outside"):
        perception_gap([3], [6, 3, 3], scale=(1, 5))
    with pytest.raises(ValueError, match="scores must be whole numbers"):
        nps([11])
    with pytest.raises(ValueError, match="pvalues must be"):
        adjust_pvalues([0.1, float("nan")])
    with pytest.raises(ValueError, match="counts"):
        level_counts({1: -2})


# Suppression ---------------------------------------------------------------------------

EMPLOYEE_SIDE = (
    "employee_score",
    "gap",
    "gap_ci",
    "standard_error",
    "relative_effect",
    "relative_effect_ci",
    "pvalue",
    "method",
    "cliffs_delta",
    "magnitude",
)


@FAST
@given(scores, st.lists(st.integers(1, 5), max_size=4), st.integers(5, 8))
def test_too_few_employees_are_suppressed(customers, employees, min_employees) -> None:
    result = perception_gap(customers, employees, scale=(1, 5), min_employees=min_employees)
    assert result.suppressed
    assert result.suppressed_reason == f"fewer than {min_employees} employee ratings"
    assert all(getattr(result, name) is None for name in EMPLOYEE_SIDE)
    assert result.customer_score is not None


def test_no_customers_is_suppressed() -> None:
    result = perception_gap({}, [4, 5, 5, 4, 3], scale=(1, 5))
    assert result.suppressed and result.suppressed_reason == "no customer ratings"
    assert result.customer_score is None and result.gap is None and result.pvalue is None
    assert result.n_customers == 0 and result.n_employees == 5


# Multiplicity --------------------------------------------------------------------------


@FAST
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_adjusted_pvalues_bounded_and_order_free(p, shuffler: random.Random) -> None:
    for method in ("bh", "by", "holm", "bonferroni"):
        adjusted = adjust_pvalues(p, method=method)
        assert np.all(adjusted >= np.asarray(p) - 1e-15) and np.all(adjusted <= 1)
        order = list(range(len(p)))
        shuffler.shuffle(order)
        moved = adjust_pvalues([p[i] for i in order], method=method)
        np.testing.assert_allclose(moved, adjusted[order])


# Table, trend, change, planning --------------------------------------------------------


def tallies_frame() -> pl.DataFrame:
    rows = []
    rng = np.random.default_rng(5)
    for department in ("care", "sales"):
        for step, n_employees in (("order", 12), ("deliver", 3), ("repair", 40)):
            for source, n in (("customer", 150), ("employee", n_employees), ("unsolicited", 9)):
                counts = rng.multinomial(n, [0.1, 0.1, 0.2, 0.3, 0.3])
                rows += [
                    (department, step, source, level, int(count), 1, 5)
                    for level, count in zip(range(1, 6), counts, strict=True)
                ]
    columns = ["department", "step", "source", "level", "count", "scale_low", "scale_high"]
    return pl.DataFrame(rows, schema=columns, orient="row")


def test_gap_table_columns_nulls_and_qvalues() -> None:
    tallies = tallies_frame()
    table = gap_table(tallies, by=["department", "step"], family=["department"], rng=0)
    assert table.columns == ["department", "step", *GAP_COLUMNS]
    assert table.height == 6
    assert table.schema["n_employees"] == pl.Int64 and table.schema["gap"] == pl.Float64
    hidden = table.filter(pl.col("suppressed"))
    assert hidden["step"].to_list() == ["deliver", "deliver"]
    assert hidden.select(pl.col("gap", "pvalue", "qvalue", "method").is_null().all()).row(0) == (
        True,
        True,
        True,
        True,
    )
    shown = table.filter(~pl.col("suppressed"))
    assert (shown["qvalue"] >= shown["pvalue"] - 1e-15).all()
    assert shown["method"].to_list() == ["permutation", "t"] * 2  # order: 12, repair: 40
    one_cell = tallies.filter(
        (pl.col("department") == "sales") & (pl.col("step") == "order"), pl.col("source") != "x"
    )
    direct = gap_table(one_cell, by=["department", "step"], rng=0).row(0, named=True)
    assert direct["n_customers"] == 150 and direct["n_employees"] == 12


def test_gap_table_agrees_with_perception_gap() -> None:
    tallies = tallies_frame().filter(pl.col("step") == "repair", pl.col("department") == "care")
    row = gap_table(tallies, by=["department", "step"], rng=0).row(0, named=True)
    customers = tallies.filter(pl.col("source") == "customer")
    employees = tallies.filter(pl.col("source") == "employee")
    customer_counts = level_counts((customers["level"].to_list(), customers["count"].to_list()))
    employee_counts = level_counts((employees["level"].to_list(), employees["count"].to_list()))
    # A table seeds each cell from its key and counts, so the row is reproducible alone.
    direct = perception_gap(
        customer_counts,
        employee_counts,
        scale=(1, 5),
        rng=seeded(0, ("care", "repair"), (1, 5), customer_counts, employee_counts),
    )
    assert row["gap"] == pytest.approx(direct.gap)
    assert (row["gap_low"], row["gap_high"]) == pytest.approx(tuple(direct.gap_ci))
    assert row["pvalue"] == pytest.approx(direct.pvalue)
    assert row["qvalue"] == pytest.approx(direct.pvalue)  # a family of one
    assert row["verdict"] == direct.verdict


def test_a_cells_row_does_not_depend_on_the_other_cells() -> None:
    """Per-cell seeds: the same cell reads the same in any table, in any order."""
    tallies = tallies_frame()
    alone = tallies.filter(pl.col("department") == "care")
    whole = gap_table(tallies, by=["department", "step"], family=["department"])
    part = gap_table(alone.reverse(), by=["department", "step"])
    assert whole.filter(pl.col("department") == "care").drop("qvalue").equals(part.drop("qvalue"))
    shown = whole.filter(~pl.col("suppressed"))
    assert set(shown["verdict"].to_list()) <= {"indicative", "clear", "not yet clear"}
    assert whole.filter(pl.col("suppressed"))["verdict"].is_null().all()


def test_gap_trend_per_cell() -> None:
    frame = pl.DataFrame(
        {
            "step": ["a"] * 5 + ["b"] * 3,
            "period": [1, 2, 3, 4, 5, 1, 2, 3],
            "gap": [10.0, 12.0, 14.0, 16.0, 18.0, 5.0, 1.0, 3.0],
            "standard_error": [2.0] * 8,
        }
    )
    trend = gap_trend(frame)
    assert trend.columns == ["step", *TREND_COLUMNS]
    a, b = trend.rows(named=True)
    assert a["slope"] == pytest.approx(2.0) and a["kendall_tau"] == pytest.approx(1.0)
    assert a["slope_low"] <= 2.0 <= a["slope_high"] and a["reason"] is None
    assert b["slope"] is None and b["reason"] == "fewer than 4 periods" and b["n_periods"] == 3


def test_theil_sen_constant_gaps_have_no_tau() -> None:
    result = theil_sen_trend([1, 2, 3, 4], [5.0, 5.0, 5.0, 5.0])
    assert result.slope == 0.0 and result.kendall_tau is None and result.pvalue is None


def test_gap_change() -> None:
    change = gap_change(10.0, 3.0, 2.0, 4.0)
    assert change.difference == -8.0 and change.standard_error == 5.0
    assert change.statistic == pytest.approx(-1.6)
    assert change.pvalue == pytest.approx(0.1095986, abs=1e-7)  # 2·Φ(−1.6)
    assert gap_change(1.0, 0.0, 2.0, 0.0).pvalue is None


@FAST
@given(groups_of_two, groups_of_two, st.floats(2.0, 30.0))
def test_responses_needed_reaches_the_target(customers, employees, target) -> None:
    plan = responses_needed(customers, employees, scale=(1, 5), half_width=target)
    assert_finite(plan)
    if plan.additional_employees is not None:
        more = employees + [employees[i % len(employees)] for i in range(plan.additional_employees)]
        # Same variance assumed: check the planning formula itself at the planned size.
        assert _half_width(plan, len(customers), len(more)) <= target + 1e-9
        if plan.additional_employees > 0:
            assert _half_width(plan, len(customers), len(more) - 1) > target
    if plan.additional_customers is not None:
        size = len(customers) + plan.additional_customers
        assert _half_width(plan, size, len(employees)) <= target + 1e-9


def _half_width(plan, n_customers: int, n_employees: int) -> float:
    """The planning formula: the Dirichlet posterior's normal half-width (see the docstring)."""
    a = plan.customer_variance / (n_customers + 2)
    b = plan.employee_variance / (n_employees + 2)
    return 1.959963984540054 * math.sqrt(a + b)


def test_responses_needed_impossible_by_customers_alone() -> None:
    plan = responses_needed([1, 5] * 1000, [1, 5, 1, 5], scale=(1, 5), half_width=5.0)
    assert plan.additional_customers is None
    assert plan.additional_employees is not None and plan.additional_employees > 0
    assert plan.balanced_customers is not None and plan.balanced_employees is not None
    assert plan.current_half_width > 5.0


def test_responses_needed_with_empty_group_uses_fallback_variance() -> None:
    plan = responses_needed([3, 4, 4, 5] * 50, [], scale=(1, 5))
    assert plan.employee_variance_assumed and plan.employee_variance == 2500.0
    assert plan.current_half_width is None and plan.additional_customers is None
    assert plan.additional_employees is not None and plan.additional_employees >= 1


def test_responses_needed_fits_the_team_and_the_interval_shown() -> None:
    """Never more employees than invited; one-level teams still get a plan; the planned
    half-width is the shown interval's."""
    customers, employees = [1, 2, 3, 4, 5] * 40, [5] * 6
    plan = responses_needed(customers, employees, scale=(1, 5), max_employees=8)
    assert plan.additional_employees is None and plan.balanced_employees is None
    assert plan.best_half_width is not None and 5.0 < plan.best_half_width < plan.current_half_width
    free = responses_needed(customers, employees, scale=(1, 5))
    assert free.additional_employees is not None and free.additional_employees > 2
    team = [4, 5, 5, 3, 5, 4, 5, 4]
    shown = perception_gap(customers, team, scale=(1, 5)).gap_ci
    planned = responses_needed(customers, team, scale=(1, 5)).current_half_width
    assert planned == pytest.approx((shown.high - shown.low) / 2, rel=0.1)


# Verdicts and pooled gaps ------------------------------------------------------------------


def test_one_verdict_rule() -> None:
    rule = {"suppressed": False, "raters": 12, "one_level": False, "qvalue": 0.01}
    assert verdict(**rule, low=1.0, high=9.0) == "clear"
    assert verdict(**rule | {"qvalue": 0.2}, low=1.0, high=9.0) == "not yet clear"
    assert verdict(**rule, low=-1.0, high=9.0) == "not yet clear"
    assert verdict(**rule | {"raters": 9}, low=1.0, high=9.0) == "indicative"
    assert verdict(**rule | {"raters": 9}, low=1.0, high=9.0, min_raters=5) == "clear"
    assert verdict(**rule | {"one_level": True}, low=1.0, high=9.0) == "indicative"
    assert verdict(**rule | {"suppressed": True}, low=1.0, high=9.0) is None


def test_constant_groups_get_an_interval_of_some_width() -> None:
    result = perception_gap([5] * 100, [5] * 6, scale=(1, 5))
    assert result.gap == 0 and result.gap_ci.low < 0 < result.gap_ci.high
    assert result.verdict == "indicative"
    assert result.gap_ci.low > -100 and result.gap_ci.high < 100


def test_pooled_gap_weights_cells_not_ratings() -> None:
    """A busy step without a gap and a quiet step with one: the mix cannot invent a gap."""
    levels = [1, 2, 3, 4, 5]
    customers = {
        "deliver": (levels, [120, 280, 600, 1400, 1600]),
        "setup": (levels, [3, 7, 15, 35, 40]),
    }
    employees = {f"r{i}": {"deliver": 4, "setup": 4 + (i % 2)} for i in range(10)}
    result = pooled_gap(customers, employees, scales={"deliver": (1, 5), "setup": (1, 5)})
    deliver = perception_gap(customers["deliver"], [4] * 10, scale=(1, 5)).gap
    setup = perception_gap(customers["setup"], [4, 5] * 5, scale=(1, 5)).gap
    assert result.gap == pytest.approx((4000 * deliver + 100 * setup) / 4100)
    assert result.n_employees == 10 and result.n_customers == 4100
    assert result.gap_ci.low < result.gap < result.gap_ci.high
    equal = pooled_gap(
        customers,
        employees,
        scales={"deliver": (1, 5), "setup": (1, 5)},
        weights={"deliver": 1, "setup": 1},
    )
    assert equal.gap == pytest.approx((deliver + setup) / 2)


def test_pooled_gap_suppresses_few_raters_and_hides_their_ids() -> None:
    customers = {"a": [3, 4, 5] * 20}
    few = pooled_gap(customers, {"x": {"a": 5}, "y": {"a": 4}}, scales={"a": (1, 5)})
    assert few.suppressed and few.employee_score is None and few.verdict is None
    many = pooled_gap(customers, {f"secret-{i}": {"a": 4} for i in range(6)}, scales={"a": (1, 5)})
    assert "secret" not in repr(many)


def test_figures_are_kept_by_their_data_and_computed_anew_when_it_changes() -> None:
    """A cell's (and a pooled gap's) figures are kept by the data that decides them: the same
    data gives what a fresh computation gives, changed data a new result."""
    from dashboards.stats import gaps as gap_module
    from dashboards.stats import pooled

    by, family = ["department", "step"], ["department"]
    tallies = tallies_frame()
    kept = gap_table(tallies, by=by, family=family)
    gap_module._memo_gap.cache_clear()
    assert gap_table(tallies, by=by, family=family).equals(kept)
    one = (pl.col("department") == "care") & (pl.col("step") == "order")
    more = one & (pl.col("source") == "customer") & (pl.col("level") == 5)
    changed = tallies.with_columns(
        count=pl.when(more).then(pl.col("count") + 60).otherwise(pl.col("count"))
    )
    again = gap_table(changed, by=by, family=family)
    assert again.filter(one)["customer_score"][0] > kept.filter(one)["customer_score"][0]
    figures = ["gap", "gap_low", "gap_high", "pvalue"]
    assert again.filter(~one).select(figures).equals(kept.filter(~one).select(figures))

    customers = {("a",): [3, 4, 4, 5, 2, 5, 4], ("b",): [2, 3, 3, 4]}
    employees = {r: {("a",): 5, ("b",): 4 + r % 2} for r in range(6)}
    scales = {("a",): (1, 5), ("b",): (1, 5)}
    first = pooled_gap(customers, employees, scales=scales, key="care")
    pooled._POOLED.clear()
    assert pooled_gap(customers, employees, scales=scales, key="care") == first
    employees[0] = {("a",): 1, ("b",): 1}
    assert pooled_gap(customers, employees, scales=scales, key="care").gap < first.gap
