"""Run every benchmark and print one Markdown table (run by hand, never in CI).

    python bench/run.py                 # all benchmarks
    python bench/run.py stats survey    # only some (module names without the bench_ prefix)

Each benchmark module exposes ``run() -> list[dict]`` with rows {"name", "value", "unit",
"limit", "ratio"}: the project's figure, and the goal or the peer measured in the same run. The
table shows figure ÷ limit and whether the goal is met: rates (units ending in "/s") must reach
their limit, times and cost factors (ms, s, ×) must stay under it; rows without a limit inform.
The table ends with the machine it ran on.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

ORDER = ["ingest", "survey", "dashboard", "stats"]


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return "" if value is None else str(value)


def verdict(row: dict) -> tuple[str, str]:
    """Figure ÷ limit, and whether the goal is met, by the direction the unit implies."""
    value, limit, unit = row.get("value"), row.get("limit"), str(row.get("unit") or "")
    if not isinstance(value, int | float) or not isinstance(limit, int | float) or not limit:
        return "", ""
    ratio = value / limit
    if unit.endswith("/s"):
        return _fmt(ratio), "yes" if ratio >= 1 else "no"
    if unit in {"ms", "s", "×", "x"}:
        return _fmt(ratio), "yes" if ratio <= 1 else "no"
    return _fmt(ratio), ""


def machine() -> str:
    """A one-line description of the machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}"


def main(selected: list[str]) -> None:
    """Run the selected benchmarks (all by default) and print the table."""
    names = selected or [n for n in ORDER if (HERE / f"bench_{n}.py").exists()]
    print("| benchmark | figure | unit | limit or peer | figure ÷ limit | goal met |")
    print("| --- | ---: | --- | ---: | ---: | :---: |")
    for name in names:
        module = importlib.import_module(f"bench_{name}")
        started = time.perf_counter()
        for row in module.run():
            ratio, met = verdict(row)
            print(
                f"| {row['name']} | {_fmt(row['value'])} | {row.get('unit', '')} | "
                f"{_fmt(row.get('limit'))} | {ratio} | {met} |",
                flush=True,
            )
        print(f"<!-- bench_{name}: {time.perf_counter() - started:.0f} s -->", file=sys.stderr)
    print(f"\nMachine: {machine()}; command: `python bench/run.py {' '.join(selected)}`".rstrip())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"some of {', '.join(ORDER)} (default: all)")
    names = parser.parse_args().names
    if unknown := set(names) - set(ORDER):
        parser.error(f"unknown benchmark: {', '.join(sorted(unknown))}")
    main(names)
