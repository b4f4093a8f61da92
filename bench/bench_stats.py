"""Benchmark of the perception-gap statistics engine (a script, not a test).

Run ``python bench/bench_stats.py`` from the repository root for a Markdown table; a suite
runner imports ``run()``, which returns rows {"name", "value", "unit", "limit", "ratio"}
(ratio = value / limit; at most 1 meets the goal).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboards.stats import gap_table, perception_gap

CELLS = 200
SMALL_CELLS = 10  # fewer than 15 employees: the permutation test with 9,999 resamples
REPEATS = 5


def make_tallies(seed: int = 2024) -> pl.DataFrame:
    """Tallies for 200 department × step × question cells on a 1–5 scale."""
    rng = np.random.default_rng(seed)
    rows = []
    for cell in range(CELLS):
        key = (f"dept-{cell % 8}", f"step-{cell // 8 % 5}", f"q-{cell}")
        n_employees = int(rng.integers(8, 15) if cell < SMALL_CELLS else rng.integers(15, 80))
        sizes = {
            "customer": int(rng.integers(50, 5000)),
            "employee": n_employees,
            "unsolicited": 30,
        }
        for source, n in sizes.items():
            counts = rng.multinomial(n, rng.dirichlet(np.full(5, 2.0)))
            rows += [(*key, source, level + 1, int(c), 1, 5) for level, c in enumerate(counts)]
    columns = ["department", "step", "question", "source", "level", "count"]
    return pl.DataFrame(rows, schema=[*columns, "scale_low", "scale_high"], orient="row")


def median_seconds(action, repeats: int = REPEATS) -> float:
    """Median wall time of an action over a few repeats, each computing everything anew."""
    from dashboards.stats import gaps, pooled

    times = []
    for _ in range(repeats):
        # The dashboards keep figures by their counts; this measures the computation itself.
        gaps._memo_gap.cache_clear()
        pooled._POOLED.clear()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run() -> list[dict]:
    """Time gap_table over 200 cells and perception_gap at 100 vs 1,000,000 customers."""
    tallies = make_tallies()
    by = ["department", "step", "question"]
    table_time = median_seconds(lambda: gap_table(tallies, by=by, family=["department"], rng=1))
    table = gap_table(tallies, by=by, rng=1)
    assert table.height == CELLS
    assert table.filter(pl.col("method") == "permutation").height == SMALL_CELLS

    employees = {1: 1, 2: 2, 3: 3, 4: 4, 5: 2}

    def one_cell(customers: int) -> float:
        counts = np.random.default_rng(0).multinomial(customers, [0.1, 0.1, 0.2, 0.3, 0.3])
        customer = (np.arange(1, 6), counts)
        return median_seconds(lambda: perception_gap(customer, employees, scale=(1, 5), rng=0))

    small, large = one_cell(100), one_cell(1_000_000)
    return [
        _row("gap_table: 200 cells, 10 by permutation (9,999 resamples)", table_time, "s", 1.0),
        _row("perception_gap: 12 employees, 100 customers", small, "s", 0.1),
        _row("perception_gap: 12 employees, 1,000,000 customers", large, "s", 0.1),
        _row("cost ratio 1,000,000 vs 100 customers", large / small, "x", 3.0),
    ]


def _row(name: str, value: float, unit: str, limit: float) -> dict:
    return {"name": name, "value": value, "unit": unit, "limit": limit, "ratio": value / limit}


def markdown(rows: list[dict]) -> str:
    """Rows as a Markdown table."""
    lines = ["| benchmark | value | unit | limit | ratio |", "|---|---:|---|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['value']:.3f} | {row['unit']} | {row['limit']:g} "
            f"| {row['ratio']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    print(markdown(run()))
