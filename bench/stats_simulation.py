"""Simulations behind the gap statistics: coverage and false "clear" rates per design.

Run ``python bench/stats_simulation.py`` from the repository root for the Markdown tables
published in docs/statistics.md (4,000 data sets per design by default); ``--help`` lists the
options. tests/test_stats_simulation.py runs the same designs with fewer data sets.

Everything is vectorised over data sets: scores sit on five levels, so a data set is a vector
of counts per level, and thousands of them are drawn and analysed as one array.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import optimize, special

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboards.stats import brunner_munzel, seeded
from dashboards.stats.intervals import dirichlet_mean_batch
from dashboards.stats.pooled import rater_batch
from dashboards.stats.verdicts import VERDICT_MIN_RATERS

LEVELS = np.arange(1.0, 6.0)
SCALE = (1.0, 5.0)
POINTS = 25.0 * (LEVELS - 1)
# Customers: a fixed top-heavy distribution, tilted to set the true gap.
CUSTOMERS = np.array([0.03, 0.07, 0.15, 0.35, 0.40])
TOP_60 = np.array([0.02, 0.04, 0.10, 0.24, 0.60])
TOP_80 = np.array([0.01, 0.02, 0.05, 0.12, 0.80])
CELL_DESIGNS: dict[str, tuple[int, int, np.ndarray]] = {
    # name: (customers, employees, employee level probabilities)
    "top-heavy small team": (200, 5, TOP_60),
    "very top-heavy": (50, 6, TOP_80),
    "threshold 3": (200, 3, CUSTOMERS),
    "mid": (200, 8, CUSTOMERS),
    "verdict threshold": (200, 12, CUSTOMERS),
    "large": (2000, 30, CUSTOMERS),
}
DEPARTMENT_DESIGNS = [(6, 8), (10, 15)]  # (steps, raters), 200 customers per step
ICCS = (0.0, 0.2, 0.4, 0.6)
GAPS = (0.0, 10.0)
METHODS = ("dirichlet-ends", "dirichlet-uniform", "bootstrap-t", "welch")


def score(p: np.ndarray) -> float:
    """Mean of level probabilities on 0–100 points."""
    return float(p @ POINTS)


def tilt(p: np.ndarray, target: float) -> np.ndarray:
    """The exponential tilt of p whose mean is `target` points (keeps the shape's character)."""

    def tilted(theta: float) -> np.ndarray:
        q = p * np.exp(theta * (LEVELS - 3))
        return q / q.sum()

    return tilted(optimize.brentq(lambda t: score(tilted(t)) - target, -30, 30))


def cell_probabilities(design: str, gap: float) -> tuple[int, int, np.ndarray, np.ndarray]:
    """(n customers, n employees, customer probabilities, employee probabilities)."""
    n_c, n_e, employees = CELL_DESIGNS[design]
    return n_c, n_e, tilt(CUSTOMERS, score(employees) - gap), employees


@dataclass(frozen=True)
class Rates:
    """What a design's simulation measured (shares of data sets, widths in points)."""

    coverage: float
    width: float
    excludes_zero: float
    clear: float
    zero_width: float
    widest: float
    mean_gap: float = float("nan")


def cell_intervals(
    customers: np.ndarray, employees: np.ndarray, method: str, rng: np.random.Generator, draws: int
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) gap intervals in points for count tables (sets, levels) of both groups."""
    if method.startswith("dirichlet"):
        prior = method.removeprefix("dirichlet-")
        e = dirichlet_mean_batch(
            LEVELS, employees, scale=SCALE, n_draws=draws, rng=rng, prior=prior
        )
        c = dirichlet_mean_batch(
            LEVELS, customers, scale=SCALE, n_draws=draws, rng=rng, prior=prior
        )
        low, high = np.quantile(25 * (e - c), [0.025, 0.975], axis=-1)
        return np.maximum(low, -100), np.minimum(high, 100)
    n_c, mean_c, var_c = _moments(customers)
    n_e, mean_e, var_e = _moments(employees)
    difference = 25 * (mean_e - mean_c)
    a, b = var_e / n_e, var_c / n_c
    se = 25 * np.sqrt(a + b)
    df = np.divide(
        (a + b) ** 2, a**2 / (n_e - 1) + b**2 / (n_c - 1), out=np.ones_like(a), where=a + b > 0
    )
    if method == "welch":
        half = special.stdtrit(df, 0.975) * se
        return np.maximum(difference - half, -100), np.minimum(difference + half, 100)
    # bootstrap-t: multinomial resamples within each group, Welch statistic
    pe, pc = employees / n_e[:, None], customers / n_c[:, None]
    re = rng.multinomial(n_e.astype(int)[:, None], pe[:, None, :], size=(len(pe), draws))
    rc = rng.multinomial(n_c.astype(int)[:, None], pc[:, None, :], size=(len(pc), draws))
    _, me, ve = _moments(re)
    _, mc, vc = _moments(rc)
    se_star = 25 * np.sqrt(ve / n_e[:, None] + vc / n_c[:, None])
    shift = 25 * (me - mc) - difference[:, None]
    t = np.divide(shift, se_star, out=np.sign(shift) * 1e6, where=se_star > 0)
    q_low, q_high = np.quantile(np.clip(t, -1e6, 1e6), [0.025, 0.975], axis=-1)
    low = np.where(se > 0, difference - q_high * se, np.nan)
    high = np.where(se > 0, difference - q_low * se, np.nan)
    return np.maximum(low, -100), np.minimum(high, 100)


def _moments(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = counts.sum(axis=-1).astype(float)
    mean = counts @ LEVELS / n
    variance = (counts @ LEVELS**2 - n * mean**2) / np.maximum(n - 1, 1)
    return n, mean, np.maximum(variance, 0.0)


def cell_rates(
    design: str,
    gap: float,
    *,
    sets: int,
    seed: int,
    method: str = "dirichlet-ends",
    draws: int = 1000,
    verdicts: bool = True,
) -> Rates:
    """Coverage and verdict rates of one cell design at one true gap."""
    rng = np.random.default_rng(seed)
    n_c, n_e, p_c, p_e = cell_probabilities(design, gap)
    customers = rng.multinomial(n_c, p_c, size=sets)
    employees = rng.multinomial(n_e, p_e, size=sets)
    low, high = cell_intervals(customers, employees, method, rng, draws)
    missing = np.isnan(low)
    covered = ~missing & (low <= gap) & (gap <= high)
    excludes = ~missing & ((low > 0) | (high < 0))
    clear = 0
    if verdicts and n_e >= VERDICT_MIN_RATERS:
        for i in np.flatnonzero(excludes & (np.count_nonzero(employees, axis=1) > 1)):
            generator = seeded(None, SCALE, customers[i], employees[i])
            test = brunner_munzel((LEVELS, customers[i]), (LEVELS, employees[i]), rng=generator)
            clear += test.pvalue < 0.05
    width = np.where(missing, 0.0, high - low)
    return Rates(
        coverage=float(covered.mean()),
        width=float(width[~missing].mean()),
        excludes_zero=float(excludes.mean()),
        clear=clear / sets,
        zero_width=float(np.mean(missing | (width <= 0))),
        widest=float(np.nanmax(np.maximum(np.abs(low), np.abs(high)))),
        mean_gap=float(np.mean(25 * (employees @ LEVELS / n_e - customers @ LEVELS / n_c))),
    )


def correlated_raters(
    rng: np.random.Generator, sets: int, raters: int, steps: int, icc: float, p: np.ndarray
) -> np.ndarray:
    """Levels in points (sets, raters, steps): a latent normal with intraclass correlation
    `icc` per rater, cut so every step's levels follow p."""
    shared = np.sqrt(icc) * rng.standard_normal((sets, raters, 1))
    latent = shared + np.sqrt(1 - icc) * rng.standard_normal((sets, raters, steps))
    cuts = special.ndtri(np.cumsum(p)[:-1])
    return POINTS[np.searchsorted(cuts, latent)]


def department_rates(
    customer_sizes: list[int],
    customer_gaps: list[float],
    raters: int,
    icc: float,
    *,
    sets: int,
    seed: int,
    draws: int = 1000,
    chunk: int = 250,
) -> Rates:
    """Coverage and false "clear" of the pooled gap (weights: customer shares).

    Employees follow CUSTOMERS on every step; each step's customers are tilted so that step's
    true gap is its entry of `customer_gaps`. The truth is the weighted mean of step gaps.
    """
    rng = np.random.default_rng(seed)
    sizes = np.asarray(customer_sizes)
    w = sizes / sizes.sum()
    truth = float(w @ np.asarray(customer_gaps))
    probabilities = [tilt(CUSTOMERS, score(CUSTOMERS) - g) for g in customer_gaps]
    found = {k: [] for k in ("covered", "width", "excludes", "clear", "gap")}
    for start in range(0, sets, chunk):
        size = min(chunk, sets - start)
        points = correlated_raters(rng, size, raters, len(sizes), icc, CUSTOMERS)
        counts = np.stack(
            [rng.multinomial(n, p, size=size) for n, p in zip(sizes, probabilities, strict=True)],
            axis=1,
        )
        means = dirichlet_mean_batch(LEVELS, counts, scale=SCALE, n_draws=draws, rng=rng)
        customer_draws = np.einsum("s,nsb->nb", w, 25 * (means - 1))
        customer_score = (25 * (counts @ LEVELS / sizes[None, :] - 1)) @ w
        batch = rater_batch(
            points, customer_draws, customer_score, w, confidence_level=0.95, rng=rng
        )
        excludes = (batch.low > 0) | (batch.high < 0)
        found["covered"].append((batch.low <= truth) & (truth <= batch.high))
        found["width"].append(batch.high - batch.low)
        found["excludes"].append(excludes)
        one_level = np.ptp(points.reshape(size, -1), axis=1) == 0
        gate = raters >= VERDICT_MIN_RATERS
        found["clear"].append(gate & ~one_level & excludes & (batch.pvalue < 0.05))
        found["gap"].append(batch.gap)
    merged = {k: np.concatenate(v) for k, v in found.items()}
    return Rates(
        coverage=float(merged["covered"].mean()),
        width=float(merged["width"].mean()),
        excludes_zero=float(merged["excludes"].mean()),
        clear=float(merged["clear"].mean()),
        zero_width=float(np.mean(merged["width"] <= 0)),
        widest=float(np.max(np.abs(np.concatenate([merged["gap"]])))),
        mean_gap=float(merged["gap"].mean()),
    )


WEEKS = 13
ROUND_ENDS = (4, 10)  # weeks in which the two rating rounds end
WEEKLY_CUSTOMERS = 60
TREND_RATERS = 8


def trend_rates(*, sets: int, seed: int, by_round: bool = True) -> float:
    """Share of no-change data sets whose weekly gap series is called a trend (p < 0.05).

    13 weeks of customers and two rounds of 8 employees, all from one distribution: nothing
    changes. `by_round`: weeks before the first round ended have no gap and pairs of weeks are
    compared within a round (the dashboards' rule); False: every week read as one series, the
    early weeks borrowing the first round (what the dashboards did before).
    """
    from dashboards.stats import theil_sen_trend

    rng = np.random.default_rng(seed)
    weeks = np.arange(1, WEEKS + 1)
    rounds = np.searchsorted(np.array(ROUND_ENDS), weeks, side="right")  # 0 before the first
    called = 0
    for _ in range(sets):
        customers = rng.multinomial(WEEKLY_CUSTOMERS, CUSTOMERS, size=WEEKS) @ POINTS
        employees = rng.multinomial(TREND_RATERS, CUSTOMERS, size=len(ROUND_ENDS)) @ POINTS
        side = employees[np.maximum(rounds, 1) - 1] / TREND_RATERS
        gaps = side - customers / WEEKLY_CUSTOMERS
        if by_round:
            kept = rounds > 0
            trend = theil_sen_trend(weeks[kept], gaps[kept], blocks=rounds[kept])
        else:
            trend = theil_sen_trend(weeks, gaps)
        called += trend.pvalue is not None and trend.pvalue < 0.05
    return called / sets


def _row(label: str, rates: Rates) -> str:
    return (
        f"| {label} | {100 * rates.coverage:.1f} % | {rates.width:.1f} | "
        f"{100 * rates.excludes_zero:.1f} % | {100 * rates.clear:.1f} % |"
    )


def main(argv: list[str] | None = None) -> int:
    """Print the simulation tables as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=4000, help="data sets per design (4000)")
    parser.add_argument("--draws", type=int, default=2000, help="posterior draws (2000)")
    parser.add_argument("--seed", type=int, default=20261207, help="base seed")
    parser.add_argument(
        "--only",
        choices=["cells", "methods", "departments", "mix", "trends"],
        action="append",
        help="run only these tables (repeatable)",
    )
    args = parser.parse_args(argv)
    parts = args.only or ["cells", "methods", "departments", "mix", "trends"]
    started = time.perf_counter()
    header = (
        "| design | coverage | mean width | excludes 0 | clear |\n| --- | --- | --- | --- | --- |"
    )
    if "cells" in parts:
        print(f"\n### Cells ({args.sets} data sets per row, 95 % intervals)\n\n{header}")
        for index, design in enumerate(CELL_DESIGNS):
            for gap in GAPS:
                rates = cell_rates(
                    design, gap, sets=args.sets, seed=args.seed + index, draws=args.draws
                )
                print(_row(f"{design}, gap {gap:+.0f}", rates))
    if "methods" in parts:
        print("\n### Interval methods compared (coverage %, gap 0 / +10)\n")
        print("| design | " + " | ".join(METHODS) + " |\n| --- |" + " --- |" * len(METHODS))
        for index, design in enumerate(CELL_DESIGNS):
            cells = []
            for method in METHODS:
                pair = [
                    cell_rates(
                        design,
                        g,
                        sets=args.sets,
                        seed=args.seed + index,
                        method=method,
                        draws=args.draws,
                        verdicts=False,
                    ).coverage
                    for g in GAPS
                ]
                cells.append(f"{100 * pair[0]:.1f} / {100 * pair[1]:.1f}")
            print(f"| {design} | " + " | ".join(cells) + " |")
    if "departments" in parts:
        print(f"\n### Departments, correlated raters ({args.sets} data sets per row)\n\n{header}")
        for steps, raters in DEPARTMENT_DESIGNS:
            for icc in ICCS:
                for gap in GAPS:
                    rates = department_rates(
                        [200] * steps,
                        [gap] * steps,
                        raters,
                        icc,
                        sets=args.sets,
                        seed=args.seed + steps,
                        draws=args.draws,
                    )
                    print(
                        _row(f"{steps} steps × {raters} raters, ICC {icc}, gap {gap:+.0f}", rates)
                    )
    if "mix" in parts:
        rates = department_rates(
            [4000, 100], [0.0, 5.0], 10, 0.4, sets=args.sets, seed=args.seed, draws=args.draws
        )
        print("\n### Step mix (4,000 customers at gap 0, 100 at gap +5, 10 raters, ICC 0.4)\n")
        print(f"{header}\n" + _row(f"mean gap {rates.mean_gap:+.2f} (truth +0.12)", rates))
    if "trends" in parts:
        print(
            f"\n### Trend with a round switch ({WEEKS} weeks, rounds ending in weeks "
            f"{ROUND_ENDS[0]} and {ROUND_ENDS[1]}, {TREND_RATERS} raters, no change)\n"
        )
        print("| trend test | false trend |\n| --- | --- |")
        for label, by_round in (("within rounds", True), ("one series across rounds", False)):
            rate = trend_rates(sets=args.sets, seed=args.seed, by_round=by_round)
            print(f"| {label} | {100 * rate:.1f} % |")
    print(f"\n{args.sets} data sets per design; {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
