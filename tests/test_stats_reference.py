"""dashboards.stats against published values and against independent implementations.

The published values live in tests/data/stats_cases.json, a copy of the project's shared
reference file (each case names its source). Where a value is published rounded, the
tolerance is half a unit of its last digit; full-precision values are checked to 1e-6.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize
from scipy import stats as sps

from dashboards.stats import (
    adjust_pvalues,
    brunner_munzel,
    cliffs_delta,
    nps,
    welch_gap,
)

DATA = Path(__file__).resolve().parent / "data" / "stats_cases.json"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "stats_cases.json"
CASES = {case["name"]: case for case in json.loads(DATA.read_text(encoding="utf-8"))}
EXACT = 1e-6


def half_unit(published: float) -> float:
    """Half a unit in the last published decimal place: the rounding of the source."""
    text = repr(published)
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10.0**-decimals


def test_copy_matches_the_shared_reference_file() -> None:
    """The repository copy is the shared file verbatim, and every case names its source."""
    copy = json.loads(DATA.read_text("utf-8"))
    assert all(case["source"] and case["expected"] for case in copy)
    # The shared folder sits beside the repository in CI; a bare clone has only the copy.
    if SHARED.exists():
        assert json.loads(SHARED.read_text(encoding="utf-8")) == copy


# Brunner & Munzel (2000) pain scores, as corrected by Neubert & Brunner (2007); R lawstat
# brunner.munzel.test example; scipy.stats.brunnermunzel docstring.
PAIN = CASES["brunner_munzel_pain_scores"]


def test_brunner_munzel_pain_scores_full_precision() -> None:
    expected = PAIN["expected"]
    result = brunner_munzel(
        PAIN["inputs"]["x_treatment_Y"], PAIN["inputs"]["y_treatment_N"], method="t"
    )
    assert result.method == "t"
    assert result.statistic == pytest.approx(expected["statistic_full"], abs=EXACT)
    assert result.df == pytest.approx(expected["df_full"], abs=EXACT)
    assert result.pvalue == pytest.approx(expected["p_value_full"], abs=EXACT)


def test_brunner_munzel_pain_scores_published_rounding() -> None:
    expected = PAIN["expected"]
    result = brunner_munzel(
        PAIN["inputs"]["x_treatment_Y"], PAIN["inputs"]["y_treatment_N"], method="t"
    )
    for value, key in [
        (result.statistic, "statistic"),
        (result.df, "df"),
        (result.pvalue, "p_value"),
        (result.relative_effect, "relative_effect_p_hat"),
    ]:
        assert value == pytest.approx(expected[key], abs=half_unit(expected[key])), key
    low, high = expected["ci95_relative_effect"]
    assert result.confidence_interval.low == pytest.approx(low, abs=half_unit(low))
    assert result.confidence_interval.high == pytest.approx(high, abs=half_unit(high))


def test_brunner_munzel_pain_scores_normal_approximation() -> None:
    # lawstat's distribution = "normal": p = 2·Φ(−|T|) from the same statistic.
    result = brunner_munzel(
        PAIN["inputs"]["x_treatment_Y"], PAIN["inputs"]["y_treatment_N"], method="t"
    )
    normal_p = 2 * sps.norm.sf(abs(result.statistic))
    assert normal_p == pytest.approx(PAIN["expected"]["p_value_distribution_normal"], abs=EXACT)


def test_cliffs_delta_pain_scores() -> None:
    expected = PAIN["expected"]["cliffs_delta_y_vs_x"]
    result = cliffs_delta(PAIN["inputs"]["y_treatment_N"], PAIN["inputs"]["x_treatment_Y"])
    assert result.delta == pytest.approx(expected, abs=half_unit(expected))
    assert result.magnitude == "large"


def test_brunner_munzel_pain_scores_from_counts() -> None:
    x, y = PAIN["inputs"]["x_treatment_Y"], PAIN["inputs"]["y_treatment_N"]
    as_counts = brunner_munzel(
        {level: x.count(level) for level in set(x)},
        (sorted(set(y)), [y.count(level) for level in sorted(set(y))]),
        method="t",
    )
    assert as_counts.statistic == pytest.approx(PAIN["expected"]["statistic_full"], abs=EXACT)


# Shier (2004), Mann–Whitney U worked example (diabetes ages); scipy.stats.mannwhitneyu docs.
# U_x = n_x·n_y·P(X > Y) + ½ ties, so vd_A = U_x/(n_x n_y) is the Brunner–Munzel relative
# effect of females against males. (The MWU p-values in the file are not part of this API.)
SHIER = CASES["mwu_shier2004_diabetes_age"]


def test_shier_cliffs_delta_and_vargha_delaney_a() -> None:
    males, females = SHIER["inputs"]["x_males"], SHIER["inputs"]["y_females"]
    expected = SHIER["expected"]
    assert cliffs_delta(males, females).delta == pytest.approx(
        expected["cliffs_delta_x_vs_y"], abs=EXACT
    )
    vd_a = brunner_munzel(females, males, method="t").relative_effect
    assert vd_a == pytest.approx(expected["vd_A_x_gt_y"], abs=EXACT)
    pairs = len(males) * len(females)
    assert vd_a * pairs == pytest.approx(expected["U_x"], abs=EXACT)
    assert (1 - vd_a) * pairs == pytest.approx(expected["U_y"], abs=EXACT)


# Benjamini & Hochberg (1995), the 15 p-values of the TAPS trial (Neuhaus et al. 1992);
# scipy.stats.false_discovery_control docstring. BY values computed with scipy method="by".
TAPS = CASES["benjamini_hochberg_1995_taps"]


def test_benjamini_hochberg_adjusted_values() -> None:
    adjusted = adjust_pvalues(TAPS["inputs"]["p_values"], method="bh")
    for value, published in zip(adjusted, TAPS["expected"]["bh_adjusted"], strict=True):
        assert value == pytest.approx(published, abs=half_unit(published))


def test_benjamini_yekutieli_adjusted_values() -> None:
    adjusted = adjust_pvalues(TAPS["inputs"]["p_values"], method="by")
    for value, published in zip(adjusted, TAPS["expected"]["by_adjusted_computed"], strict=True):
        assert value == pytest.approx(published, abs=half_unit(published))


def test_rejection_counts_at_q_005() -> None:
    p, q, expected = TAPS["inputs"]["p_values"], TAPS["inputs"]["q"], TAPS["expected"]
    rejected = np.flatnonzero(adjust_pvalues(p, method="bh") <= q)
    assert rejected.tolist() == expected["bh_rejected_indices_0based"]
    assert rejected.size == expected["bh_rejected_count"]
    bonferroni = int(np.sum(adjust_pvalues(p, method="bonferroni") <= q))
    assert bonferroni == expected["bonferroni_rejected_count"]
    assert int(np.sum(adjust_pvalues(p, method="holm") <= q)) == expected["holm_rejected_count"]


# Rocks, R package NPS, tests/testthat/test_01_basics.R: NPS, per-respondent variance and
# Wald SE on the −1…1 scale. This API reports them ×100 (score, SE) and ×100² (variance).
ROCKS = CASES["nps_variance_rocks_package_tests"]


@pytest.mark.parametrize("method", ["adjusted-wald", "wald", "score"])
@pytest.mark.parametrize("case", range(4))
def test_nps_rocks_variances(case: int, method: str) -> None:
    detractors, passives, promoters = ROCKS["inputs"]["counts_det_pas_pro"][case]
    expected = ROCKS["expected"]
    result = nps({0: detractors, 8: passives, 10: promoters}, method=method)
    score, variance, se = expected["nps"][case], expected["var"][case], expected["se"][case]
    assert result.score / 100 == pytest.approx(score, abs=half_unit(score))
    assert result.variance / 100**2 == pytest.approx(variance, abs=half_unit(variance))
    assert result.standard_error / 100 == pytest.approx(se, abs=half_unit(se))
    assert (result.promoters, result.passives, result.detractors) == (
        promoters,
        passives,
        detractors,
    )


# R: t.test(extra ~ group, data = sleep) — Welch two-sample t-test.
SLEEP = CASES["welch_t_sleep_r_docs"]


def test_welch_sleep() -> None:
    expected = SLEEP["expected"]
    result = welch_gap(SLEEP["inputs"]["x_group1"], SLEEP["inputs"]["y_group2"])
    assert result.statistic == pytest.approx(expected["t"], abs=half_unit(expected["t"]))
    assert result.df == pytest.approx(expected["df"], abs=half_unit(expected["df"]))
    assert result.pvalue == pytest.approx(expected["p_value"], abs=half_unit(expected["p_value"]))
    low, high = expected["ci95_mean_diff"]
    assert result.confidence_interval.low == pytest.approx(low, abs=half_unit(low))
    assert result.confidence_interval.high == pytest.approx(high, abs=half_unit(high))
    difference = expected["mean_x"] - expected["mean_y"]
    assert result.difference == pytest.approx(difference, abs=EXACT)


# Independent implementations: scipy on random ordinal data.

SEEDS = range(40)


def random_groups(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two groups of 1–7 scores with random sizes and level probabilities, neither constant.

    A constant group leaves scipy's statistic undefined; the guard tests cover that case.
    """
    rng = np.random.default_rng(seed)
    while True:
        sizes = rng.integers(3, 60, size=2)
        x = rng.choice(np.arange(1, 8), size=sizes[0], p=rng.dirichlet(np.ones(7)))
        y = rng.choice(np.arange(1, 8), size=sizes[1], p=rng.dirichlet(np.ones(7)))
        if len(set(x)) > 1 and len(set(y)) > 1:
            return x, y


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_brunner_munzel_agrees_with_scipy(seed: int, alternative: str) -> None:
    x, y = random_groups(seed)
    with np.errstate(all="ignore"):
        reference = sps.brunnermunzel(x, y, alternative=alternative)
    assert np.isfinite(reference.statistic)
    result = brunner_munzel(x, y, alternative=alternative, method="t")
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-9, abs=1e-12)
    assert result.pvalue == pytest.approx(reference.pvalue, rel=1e-7, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_relative_effect_agrees_with_mann_whitney_u(seed: int) -> None:
    x, y = random_groups(seed)
    u_x = sps.mannwhitneyu(x, y).statistic  # #(x > y) + ½ #(x = y)
    pairs = x.size * y.size
    assert brunner_munzel(x, y, method="t").relative_effect == pytest.approx(1 - u_x / pairs)
    assert cliffs_delta(x, y).delta == pytest.approx(2 * u_x / pairs - 1)


@pytest.mark.parametrize("seed", SEEDS)
def test_welch_agrees_with_scipy(seed: int) -> None:
    x, y = random_groups(seed)
    reference = sps.ttest_ind(x, y, equal_var=False)
    result = welch_gap(x, y, confidence_level=0.9)
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-9)
    assert result.pvalue == pytest.approx(reference.pvalue, rel=1e-7, abs=1e-12)
    assert result.df == pytest.approx(reference.df, rel=1e-9)
    interval = reference.confidence_interval(confidence_level=0.9)
    assert result.confidence_interval.low == pytest.approx(interval.low, rel=1e-9)
    assert result.confidence_interval.high == pytest.approx(interval.high, rel=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("method", ["bh", "by"])
def test_fdr_agrees_with_scipy(seed: int, method: str) -> None:
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(size=rng.integers(1, 40)), rng.uniform(0, 0.01, size=5)])
    rng.shuffle(p)
    expected = sps.false_discovery_control(p, method=method)
    np.testing.assert_allclose(adjust_pvalues(p, method=method), expected, rtol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_holm_and_bonferroni_by_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=rng.integers(1, 30)) ** 3
    m = p.size
    order = np.argsort(p)
    holm = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):  # Holm (1979), step-down
        running = max(running, min(1.0, (m - rank) * p[index]))
        holm[index] = running
    np.testing.assert_allclose(adjust_pvalues(p, method="holm"), holm, rtol=1e-12)
    np.testing.assert_allclose(adjust_pvalues(p, method="bonferroni"), np.minimum(1, m * p))


def tango_interval_by_profile(promoters: int, detractors: int, n: int, z: float) -> tuple:
    """Tango's score interval by brute force: numeric restricted MLE, then a fine grid."""

    def statistic(delta: float) -> float:
        def negative_log_likelihood(q: float) -> float:
            p_pro, p_pass = q + delta, 1 - 2 * q - delta
            terms = [(promoters, p_pro), (detractors, q), (n - promoters - detractors, p_pass)]
            return -sum(k * math.log(p) for k, p in terms if k > 0)

        low, high = max(0.0, -delta) + 1e-12, (1 - delta) / 2 - 1e-12
        q = optimize.minimize_scalar(
            negative_log_likelihood, bounds=(low, high), method="bounded", options={"xatol": 1e-13}
        ).x
        return (promoters - detractors - n * delta) / math.sqrt(n * (2 * q + delta * (1 - delta)))

    grid = np.linspace(-0.999, 0.999, 3997)
    inside = [d for d in grid if abs(statistic(d)) <= z]
    return min(inside), max(inside)


@pytest.mark.parametrize(
    "counts", [(3, 2, 1), (10, 5, 5), (0, 4, 6), (7, 0, 1), (25, 10, 15), (2, 9, 1)]
)
def test_nps_score_interval_agrees_with_brute_force(counts: tuple[int, int, int]) -> None:
    # Tango (1998) Stat Med 17:891–908: score interval for p₊ − p₋ of one multinomial sample.
    promoters, passives, detractors = counts
    n = sum(counts)
    result = nps({10: promoters, 7: passives, 3: detractors}, method="score")
    low, high = tango_interval_by_profile(promoters, detractors, n, sps.norm.ppf(0.975))
    step = 0.0005  # grid spacing: the true bound lies within one step outside the grid points
    assert low - step <= result.confidence_interval.low / 100 <= low + 1e-6
    assert high - 1e-6 <= result.confidence_interval.high / 100 <= high + step


def test_nps_adjusted_wald_by_definition() -> None:
    # Rocks (2016): add 0.75 promoters, 1.5 passives, 0.75 detractors; Wald on n + 3.
    promoters, passives, detractors = 12, 5, 3
    n = promoters + passives + detractors + 3
    p_pro, p_det = (promoters + 0.75) / n, (detractors + 0.75) / n
    centre = p_pro - p_det
    half = sps.norm.ppf(0.95) * math.sqrt((p_pro + p_det - centre**2) / n)
    result = nps({9: promoters, 7: passives, 0: detractors}, confidence_level=0.9)
    assert result.score == pytest.approx(100 * (promoters - detractors) / 20)
    assert result.confidence_interval.low == pytest.approx(100 * (centre - half))
    assert result.confidence_interval.high == pytest.approx(100 * min(1, centre + half))
