"""Org overview speed on SQLite and PostgreSQL, 100 thousand to 10 million customer responses.

    python bench/bench_dashboard.py                    # 100k, 1M, 10M; prints a Markdown table
    python bench/bench_dashboard.py --sizes 100000 1000000 --requests 100

Goal: `GET /dashboards` (the org overview, default 90-day view, an executive's session, through
the whole app: middleware, guards, gap statistics, template) answers in under 300 ms at p95 with
10 million stored customer responses, and stays flat from 100 thousand to 10 million. Before
each timed view one customer count of the last 30 days grows by one, as answers arrive on a live
system, so the statistics of that cell, its department and the headline are computed anew; the
table also shows the first view after start-up, when nothing is kept yet.

Each size gets a fresh SQLite database with the demo organisation (12 rating questions), one
rating round of every department (6 to 20 raters per question) and the tallies of N customer
responses spread over the past 365 days, written directly with sqlite3 executemany. The raw
Response/Answer rows are not written by default: the overview reads the tallies only (a segment
filter reads raw rows; `--raw` stores them too, which takes minutes at 10 million).

The same sizes are then measured on PostgreSQL: a database created per size and dropped after it
(skipped when no server answers at LISTENING_BENCH_POSTGRES_URL, default the local one), the same
tallies written with asyncpg copy_records_to_table into the migrated schema (tallies only,
`--raw` applies to SQLite), the app's connection pool started as the server starts it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from harness import POSTGRES_URL, pg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIZES = (100_000, 1_000_000, 10_000_000)
LIMIT_MS = 300.0
SCALES = {"csat": (1, 5), "ces": (1, 7), "nps": (0, 10), "likert5": (1, 5), "likert7": (1, 7)}
QUESTIONS_SQL = (
    'SELECT q."id", s."step", q."kind", st."department" FROM "question" q '
    'JOIN "survey" s ON s."id" = q."survey" JOIN "step" st ON st."id" = s."step" '
    "WHERE q.\"kind\" IN ('csat', 'ces', 'nps', 'likert5', 'likert7') ORDER BY q.\"id\""
)
TODAY = date.today()
DAYS = 365


def _customer_rows(questions: list, responses: int, rng) -> list[tuple]:
    """Customer tally rows of `responses` responses over the past year (day as a date)."""
    per_question = rng.multinomial(responses, np.full(len(questions), 1 / len(questions)))
    rows = []
    for (question, step, kind, _), total in zip(questions, per_question, strict=True):
        low, high = SCALES[kind]
        levels = np.arange(low, high + 1)
        weights = np.linspace(1, 3, levels.size)
        weights /= weights.sum()
        per_day = rng.multinomial(total, np.full(DAYS, 1 / DAYS))
        for offset, n in enumerate(per_day):
            day = TODAY - timedelta(days=offset)
            for level, count in zip(levels, rng.multinomial(n, weights), strict=True):
                if count:
                    rows.append((step, question, "customer", 0, day, int(level), int(count)))
    return rows


def _employee_rows(questions: list, round_id: int, ends: datetime, rng) -> tuple[list, dict]:
    """One rating round: its tally rows and its pseudonymous ratings (6 to 20 raters a step).

    Returns the tally rows and the round's rows as the anonymisation of an ended round leaves
    them: `self_rating` (no employee, a rater pseudonym) and `self_rating_score`.
    """
    rows: list[tuple] = []
    ratings: list[tuple] = []
    scores: list[tuple] = []
    raters_of: dict[int, int] = {}
    by_step: dict[int, list] = {}
    for question, step, kind, department in questions:
        by_step.setdefault(step, []).append((question, kind, department))
    for step, step_questions in by_step.items():
        raters = int(rng.integers(6, 21))
        department = step_questions[0][2]
        first = len(ratings) + 1
        for rater in range(raters):
            ratings.append((first + rater, round_id, step, f"r{department}-{rater}", department))
        for question, kind, _ in step_questions:
            low, high = SCALES[kind]
            given = rng.integers(max(low, high - 2), high + 1, size=raters)
            scores += [(first + r, question, int(s)) for r, s in enumerate(given)]
            for level, count in zip(*np.unique(given, return_counts=True), strict=True):
                rows.append(
                    (step, question, "employee", round_id, ends.date(), int(level), int(count))
                )
        raters_of[department] = max(raters_of.get(department, 0), raters)
    return rows, {"ratings": ratings, "scores": scores, "departments": sorted(raters_of)}


def _round_ends() -> datetime:
    return datetime.combine(TODAY - timedelta(days=10), datetime.min.time(), tzinfo=UTC)


def _populate(path: Path, responses: int, *, raw: bool, seed: int = 7) -> dict:
    """Write tallies (and optionally raw rows) of `responses` customer responses."""
    rng = np.random.default_rng(seed)
    db = sqlite3.connect(path)
    questions = db.execute(QUESTIONS_SQL).fetchall()
    started = time.perf_counter()
    rows = _customer_rows(questions, responses, rng)
    ends = _round_ends()
    cursor = db.execute(
        'INSERT INTO "rating_round" ("name", "starts_at", "ends_at", "created_at", '
        '"anonymised_at") VALUES (?, ?, ?, ?, ?)',
        (
            "Benchmark round",
            (ends - timedelta(days=14)).isoformat(),
            ends.isoformat(),
            ends.isoformat(),
            ends.isoformat(),
        ),
    )
    round_id = cursor.lastrowid
    employee, rated = _employee_rows(questions, round_id, ends, rng)
    rows += employee
    db.executemany(
        'INSERT INTO "round_department" ("round", "department") VALUES (?, ?)',
        [(round_id, d) for d in rated["departments"]],
    )
    db.executemany(
        'INSERT INTO "self_rating" ("id", "round", "step", "rater", "department", "created_at", '
        '"updated_at") VALUES (?, ?, ?, ?, ?, ?, ?)',
        [(*r, ends.isoformat(), ends.isoformat()) for r in rated["ratings"]],
    )
    db.executemany(
        'INSERT INTO "self_rating_score" ("rating", "question", "score") VALUES (?, ?, ?)',
        rated["scores"],
    )
    db.executemany(
        'INSERT INTO "tally" ("step", "question", "source", "round_id", "day", "level", "count") '
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(*r[:4], r[4].isoformat(), *r[5:]) for r in rows],
    )
    db.commit()
    if raw:
        _raw_rows(db, questions, responses, rng)
    db.close()
    return {"tally_rows": len(rows), "build_seconds": time.perf_counter() - started}


async def _populate_postgres(url: str, responses: int, seed: int = 7) -> dict:
    """The same tallies as `_populate`, copied into a migrated PostgreSQL database."""
    import asyncpg

    rng = np.random.default_rng(seed)
    conn = await asyncpg.connect(url)
    try:
        questions = [tuple(r) for r in await conn.fetch(QUESTIONS_SQL)]
        started = time.perf_counter()
        rows = _customer_rows(questions, responses, rng)
        ends = _round_ends()
        round_id = await conn.fetchval(
            'INSERT INTO "rating_round" ("name", "starts_at", "ends_at", "created_at", '
            '"anonymised_at") VALUES ($1, $2, $3, $4, $5) RETURNING "id"',
            "Benchmark round",
            ends - timedelta(days=14),
            ends,
            ends,
            ends,
        )
        employee, rated = _employee_rows(questions, round_id, ends, rng)
        rows += employee
        await conn.copy_records_to_table(
            "round_department",
            records=[(round_id, d) for d in rated["departments"]],
            columns=["round", "department"],
        )
        await conn.copy_records_to_table(
            "self_rating",
            records=[(*r, ends, ends) for r in rated["ratings"]],
            columns=["id", "round", "step", "rater", "department", "created_at", "updated_at"],
        )
        await conn.copy_records_to_table(
            "self_rating_score",
            records=rated["scores"],
            columns=["rating", "question", "score"],
        )
        await conn.copy_records_to_table(
            "tally",
            records=rows,
            columns=["step", "question", "source", "round_id", "day", "level", "count"],
        )
        await conn.execute('ANALYZE "tally"')
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    return {
        "tally_rows": len(rows),
        "build_seconds": time.perf_counter() - started,
        "db_mb": size / 2**20,
    }


def _raw_rows(db: sqlite3.Connection, questions: list, responses: int, rng) -> None:
    """Response and Answer rows matching the tallies' totals (slow at 10 million)."""
    chunk = 200_000
    surveys = dict(db.execute('SELECT q."id", q."survey" FROM "question" q').fetchall())
    for first in range(0, responses, chunk):
        n = min(chunk, responses - first)
        picks = rng.integers(0, len(questions), size=n)
        offsets = rng.integers(0, DAYS, size=n)
        response_rows = []
        answer_rows = []
        for i, (pick, offset) in enumerate(zip(picks, offsets, strict=True)):
            question, step, _, _ = questions[pick]
            at = datetime.combine(
                TODAY - timedelta(days=int(offset)), datetime.min.time(), tzinfo=UTC
            ).isoformat()
            response_id = first + i + 1
            response_rows.append((response_id, surveys[question], step, "invited", "{}", at))
            answer_rows.append((response_id, question, 4))
        db.executemany(
            'INSERT INTO "response" ("id", "survey", "step", "source", "attributes", '
            '"submitted_at") VALUES (?, ?, ?, ?, ?, ?)',
            response_rows,
        )
        db.executemany(
            'INSERT INTO "answer" ("response", "question", "score") VALUES (?, ?, ?)', answer_rows
        )
        db.commit()


async def _measure(requests: int) -> dict:
    """p50 and p95 of GET /dashboards through the app, an executive logged in."""
    from piccolo.engine.postgres import PostgresEngine

    from listening.app import create_app
    from listening.migrate import migrate
    from listening.settings import load_settings
    from surveys.tables import Department

    await migrate()
    app = create_app(load_settings(), manage_pool=False)
    # As the server's lifespan does: PostgreSQL gets a pool, or every query opens a connection.
    engine = Department._meta.db
    pooled = isinstance(engine, PostgresEngine)
    if pooled:
        await engine.start_connection_pool(max_size=20)
    try:
        return await _timed(app, requests)
    finally:
        if pooled:
            await engine.close_connection_pool()


async def _timed(app, requests: int) -> dict:
    import httpx

    from surveys.accounts import create_user
    from surveys.tables import Tally

    first = 0.0
    await create_user(
        email="exec@example.com", name="Exec", roles=["executive"], password="benchmark password"
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        await client.get("/login")
        await client.post(
            "/login",
            data={
                "email": "exec@example.com",
                "password": "benchmark password",
                "_csrf_token": client.cookies.get("lp_csrf"),
                "next": "/dashboards",
            },
        )
        started = time.perf_counter()
        for _ in range(5):  # warm up: imports, template compilation, SQLite page cache
            answer = await client.get("/dashboards")
            assert answer.status_code == 200, answer.status_code
            assert "Employees rate their steps" in answer.text
            first = first or (time.perf_counter() - started) * 1000
        # As on a live system, answers arrive between two views: before each timed view one
        # customer count of the last 30 days grows, so its cell, its department and the
        # headline are computed anew (the statistics of unchanged cells are kept).
        recent = await Tally.raw(
            "SELECT id FROM tally WHERE source = 'customer' AND day >= {} ORDER BY id",
            TODAY - timedelta(days=30),
        )
        times = []
        for index in range(requests):
            tally = recent[(index * 7919) % len(recent)]["id"]
            await Tally.raw("UPDATE tally SET count = count + 1 WHERE id = {}", tally)
            started = time.perf_counter()
            answer = await client.get("/dashboards")
            times.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200
    times.sort()
    return {
        "p50": statistics.median(times),
        "p95": times[max(0, round(0.95 * len(times)) - 1)],
        "first": first,
    }


def _child(size: int, requests: int, raw: bool, url: str | None = None) -> None:
    """One size in a fresh process (Piccolo binds its engine to one database per process)."""
    folder = Path(tempfile.mkdtemp(prefix="lp-bench-dashboard-"))
    path = folder / "bench.db"
    os.environ["LISTENING_DATABASE_URL"] = url or f"sqlite:///{path}"
    os.environ.setdefault("LISTENING_SECRET_KEY", "bench-" + "k" * 40)
    os.environ["PICCOLO_CONF"] = "listening.piccolo_conf"
    sys.path.insert(0, str(ROOT))

    async def prepare() -> None:
        from listening.migrate import migrate
        from surveys.journey_file import load_journey

        await migrate()
        await load_journey(ROOT / "listening" / "demo" / "journey.toml")

    asyncio.run(prepare())
    if url:
        built = asyncio.run(_populate_postgres(url, size))
    else:
        built = _populate(path, size, raw=raw)
        built["db_mb"] = path.stat().st_size / 2**20
    timing = asyncio.run(_measure(requests))
    print(json.dumps(built | timing | {"size": size}))
    for file in folder.iterdir():
        file.unlink()
    folder.rmdir()


def measure(
    sizes: tuple[int, ...] = SIZES, requests: int = 60, raw: bool = False, postgres: bool = False
) -> list[dict]:
    """Run each size in its own process; the parsed results, smallest first.

    With `postgres`, each size gets a database of its own, dropped after it.
    """
    from urllib.parse import urlparse

    results = []
    for size in sizes:
        command = [sys.executable, __file__, "--child", str(size), "--requests", str(requests)]
        if raw:
            command.append("--raw")
        name = None
        if postgres:
            name = f"lp_bench_dashboard_{os.getpid()}_{size}"
            asyncio.run(pg(f'CREATE DATABASE "{name}"'))
            url = urlparse(POSTGRES_URL)._replace(path=f"/{name}").geturl()
            command += ["--database-url", url]
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
        finally:
            if name:
                asyncio.run(pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results


def _rows(results: list[dict], engine: str) -> list[dict]:
    rows = []
    for result in results:
        label = f"{engine}, {result['size']:,} responses ({result['tally_rows']:,} tally rows)"
        if engine == "SQLite":
            label = label.removeprefix("SQLite, ")  # the SQLite names as they always were
        rows.append(
            {
                "name": f"GET /dashboards p95, {label}",
                "value": result["p95"],
                "unit": "ms",
                "limit": LIMIT_MS,
                "ratio": result["p95"] / LIMIT_MS,
            }
        )
        rows.append(
            {
                "name": f"GET /dashboards p50, {label}",
                "value": result["p50"],
                "unit": "ms",
                "limit": None,
                "ratio": None,
            }
        )
        rows.append(
            {
                "name": f"GET /dashboards first view after start-up, {label}",
                "value": result["first"],
                "unit": "ms",
                "limit": None,
                "ratio": None,
            }
        )
    if len(results) > 1:
        flat = results[-1]["p95"] / results[0]["p95"]
        prefix = "" if engine == "SQLite" else f"{engine}: "
        rows.append(
            {
                "name": f"{prefix}p95 at {results[-1]['size']:,} / p95 at {results[0]['size']:,}",
                "value": flat,
                "unit": "×",
                "limit": 1.5,
                "ratio": flat / 1.5,
            }
        )
    return rows


def run(sizes: tuple[int, ...] = SIZES, requests: int = 60, raw: bool = False) -> list[dict]:
    """Rows {"name", "value", "unit", "limit", "ratio"} for bench/run.py."""
    import asyncpg

    rows = _rows(measure(sizes, requests, raw), "SQLite")
    try:
        asyncio.run(pg("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        skipped = f"PostgreSQL skipped ({type(exc).__name__})"
        return [*rows, {"name": skipped, "value": 0, "unit": "", "limit": None, "ratio": None}]
    return rows + _rows(measure(sizes, requests, postgres=True), "PostgreSQL")


def main() -> None:
    """Print the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--raw", action="store_true", help="also store raw response rows")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        _child(args.child, args.requests, args.raw, args.database_url)
        return
    print(
        "Customer responses are stored as tallies only"
        + (" (and as raw rows)" if args.raw else ": the overview never reads raw rows")
        + "; a segment filter would read raw rows and is not measured here.\n"
    )
    print("| benchmark | figure | unit | limit | ratio |")
    print("| --- | ---: | --- | ---: | ---: |")
    for row in run(tuple(args.sizes), args.requests, args.raw):
        value = f"{row['value']:,.1f}" if row["unit"] == "ms" else f"{row['value']:.2f}"
        limit = "" if row["limit"] is None else f"{row['limit']:g}"
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}"
        print(f"| {row['name']} | {value} | {row['unit']} | {limit} | {ratio} |")


if __name__ == "__main__":
    main()
