"""Event ingestion speed: single events against a bare endpoint, batches, and PostgreSQL.

    python bench/bench_ingest.py            # Markdown table
    python bench/bench_ingest.py --seconds 5
    python bench/bench_ingest.py --only batches   # or single, postgres, file (comma-separated)

A suite runner imports ``run()``, which returns rows {"name", "value", "unit", "limit",
"ratio"} (ratio >= 1 meets the goal). Every event is a new customer on a 100 % link trigger, so
each one writes an event, a customer and an invitation, and is answered only after its commit.

- single events on SQLite: uvicorn with 1 worker, wrk with 32 connections, against a bare Litestar
  endpoint (same server, same body, msgspec-parsed, no database) measured in the same run; goal at
  least half its rate, p99 under 50 ms;
- batches on SQLite: 10,000-event NDJSON bodies to /api/events/batch, one after another, each
  answer checked once the clock has stopped; goal 20,000 events/s;
- single events on PostgreSQL with 2 uvicorn workers; goal 2,000 events/s (skipped when no
  server answers at LISTENING_BENCH_POSTGRES_URL, default the local one);
- `listening ingest FILE` on SQLite: a 60,000-event NDJSON file, timed from the command's start
  to its summary (start-up included), held to the batch goal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from harness import POSTGRES_URL, pg, row, serve, server_env, stop, wrk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH = 10_000
BATCHES = 6

JOURNEY = """
[[departments]]
key = "support"
name = "Customer Support"

[[journeys]]
key = "get-help"
name = "Get help"

  [[journeys.steps]]
  key = "ticket-resolved"
  name = "Your request is resolved"
  department = "support"

    [[journeys.steps.questions]]
    key = "csat"
    kind = "csat"
    customer = "How satisfied are you with how we resolved your request?"
    employee = "How satisfied are customers with how we resolve their requests?"

[[triggers]]
key = "ticket-link"
event_type = "ticket.closed"
step = "ticket-resolved"
channel = "link"
sample_percent = 100
"""

# Every request carries a new event id and a new customer (thread id + counter + run prefix).
LUA = """
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  prefix = args[1]
  occurred = args[2]
  path = args[3]
  key = args[4]
end
request = function()
  counter = counter + 1
  local id = prefix .. "-" .. tid .. "-" .. counter
  local body = '{"id":"ev-' .. id .. '","type":"ticket.closed","occurred_at":"' .. occurred ..
    '","customer":{"id":"cu-' .. id .. '","email":"c' .. id .. '@example.com","locale":"en"},' ..
    '"attributes":{"channel":"phone","agent":17,"vip":false}}'
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
  }, body)
end
"""


def bare_app():
    """The peer: a Litestar endpoint that parses the same event body and answers, nothing more."""
    import msgspec
    from litestar import Litestar, Request, Response, post

    from listening.schemas import EventIn

    decoder = msgspec.json.Decoder(EventIn)

    @post("/api/events", status_code=202)
    async def bare(request: Request) -> Response[bytes]:
        event = decoder.decode(await request.body())
        body = msgspec.json.encode({"event_id": event.id, "duplicate": False, "invitations": []})
        return Response(body, status_code=202, media_type="application/json")

    return Litestar([bare], signature_namespace={"Request": Request, "Response": Response})


def _prepare(url: str, key_file: str) -> None:
    """Migrate, load the organisation and its trigger, write an ingest key to `key_file`."""

    async def main() -> None:
        from listening.apikeys import create_key
        from listening.journeys import load_journey_file
        from listening.migrate import migrate

        await migrate()
        await load_journey_file(JOURNEY)
        _, key = await create_key("bench", "ingest")
        Path(key_file).write_text(key)

    asyncio.run(main())


def _wrk(url: str, lua: Path, seconds: int, prefix: str, key: str) -> dict:
    return wrk(url, lua, seconds, prefix, datetime.now(UTC).isoformat(), "/api/events", key)


def _new_event(prefix: str, n: int, occurred: str) -> str:
    """One event line of a bulk benchmark: a new event id and a new customer."""
    return json.dumps(
        {
            "id": f"{prefix}-{n}",
            "type": "ticket.closed",
            "occurred_at": occurred,
            "customer": {"id": f"c-{prefix}-{n}", "email": f"{prefix}.{n}@example.com"},
            "attributes": {"channel": "web", "order": n},
        }
    )


def _batches(url: str, key: str) -> float:
    """Events per second over several 10,000-event NDJSON batches, sent one after another."""
    import httpx

    occurred = datetime.now(UTC).isoformat()
    bodies = []
    for b in range(BATCHES):
        lines = [_new_event(f"batch-{b}", n, occurred) for n in range(BATCH)]
        bodies.append("\n".join(lines).encode())
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    with httpx.Client(base_url=url, timeout=120) as client:
        warm = client.post("/api/events/batch", content=bodies[0], headers=headers)
        warm.raise_for_status()
        start = time.perf_counter()
        answers = [
            client.post("/api/events/batch", content=body, headers=headers) for body in bodies[1:]
        ]
        elapsed = time.perf_counter() - start
    # Every answer is checked, after the clock stopped: parsing them is the client's work.
    for answer in answers:
        answer.raise_for_status()
        assert answer.json()["accepted"] == BATCH, answer.text[:300]
    return (BATCHES - 1) * BATCH / elapsed


def _sqlite_counts(db: Path) -> tuple[int, int, int]:
    import sqlite3

    conn = sqlite3.connect(db, isolation_level=None)
    try:
        # One read transaction: the three counts come from the same moment.
        conn.execute("BEGIN")
        counts = tuple(
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("event", "customer", "invitation")
        )
        conn.execute("COMMIT")
        return counts
    finally:
        conn.close()


def _single_rows(env: dict, work: Path, url: str, key: str, seconds: int) -> list[dict]:
    """Single events on the server at `url`, against the bare peer measured just before."""
    db = work / "bench.db"
    lua = work / "events.lua"
    bare_server, bare_url = serve(
        ["bench_ingest:bare_app", "--factory"],
        env | {"PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}"},
        work,
    )
    try:
        _wrk(bare_url, lua, 2, "warm", key)
        bare = _wrk(bare_url, lua, seconds, "bare", key)
    finally:
        stop(bare_server)
    _wrk(url, lua, 2, "warm", key)
    before = _sqlite_counts(db)
    single = _wrk(url, lua, seconds, "single", key)
    after = _sqlite_counts(db)
    stored = after[0] - before[0]
    return [
        row("bare endpoint parsing the event (peer)", bare["rate"], "req/s", None),
        row("single events, SQLite, 1 worker", single["rate"], "events/s", bare["rate"] / 2),
        row("single events p99, SQLite", single["p99_ms"], "ms", 50, higher=False),
        row(
            "single events refused or timed out",
            single["non_2xx"] + single["timeouts"],
            "requests",
            None,
        ),
        row("events stored = answered 202", stored, "events", single["total"]),
        row("customers / invitations written", after[1] - before[1], "rows", after[2] - before[2]),
    ]


FILE_EVENTS = 60_000


def _file_rows(work: Path) -> list[dict]:
    """`listening ingest FILE` of new events into a fresh SQLite database, start-up included."""
    env = server_env(f"sqlite:///{work / 'file.db'}")
    subprocess.run(
        [sys.executable, __file__, "--prepare", str(work / "file-key.txt")], env=env, check=True
    )
    occurred = datetime.now(UTC).isoformat()
    path = work / "events.ndjson"
    with path.open("w") as out:
        for n in range(FILE_EVENTS):
            out.write(_new_event("file", n, occurred) + "\n")
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "listening.cli", "ingest", str(path)],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - start
    assert f"{FILE_EVENTS} events read: {FILE_EVENTS} stored" in done.stdout, done.stdout
    stored = _sqlite_counts(work / "file.db")
    assert stored == (FILE_EVENTS,) * 3, stored
    return [
        row(
            "listening ingest FILE (60,000 events), SQLite",
            FILE_EVENTS / elapsed,
            "events/s",
            20_000,
        )
    ]


def _sqlite_rows(seconds: int, work: Path, parts: tuple[str, ...]) -> list[dict]:
    env = server_env(f"sqlite:///{work / 'bench.db'}")
    key_file = work / "key.txt"
    subprocess.run([sys.executable, __file__, "--prepare", str(key_file)], env=env, check=True)
    key = key_file.read_text().strip()
    rows = []
    server, url = serve(["listening.app:create_app", "--factory"], env, work)
    try:
        if "single" in parts:
            rows += _single_rows(env, work, url, key, seconds)
        if "batches" in parts:
            rate = _batches(url, key)
            rows.append(row("batches of 10,000 (NDJSON), SQLite", rate, "events/s", 20_000))
    finally:
        stop(server)
    return rows


def _postgres_rows(seconds: int, work: Path) -> list[dict]:
    from urllib.parse import urlparse

    import asyncpg

    name = f"lp_bench_{os.getpid()}"

    try:
        asyncio.run(pg(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        return [row(f"PostgreSQL skipped ({type(exc).__name__})", 0, "", None)]
    url = urlparse(POSTGRES_URL)._replace(path=f"/{name}").geturl()
    try:
        env = server_env(url)
        key_file = work / "pg-key.txt"
        subprocess.run([sys.executable, __file__, "--prepare", str(key_file)], env=env, check=True)
        key = key_file.read_text().strip()
        server, base = serve(["listening.app:create_app", "--factory"], env, work, workers=2)
        try:
            _wrk(base, work / "events.lua", 2, "warm", key)
            single = _wrk(base, work / "events.lua", seconds, "pg", key)
        finally:
            stop(server)
    finally:
        asyncio.run(pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return [
        row("single events, PostgreSQL, 2 workers", single["rate"], "events/s", 2_000),
        row("single events p99, PostgreSQL", single["p99_ms"], "ms", None),
        row(
            "PostgreSQL refused or timed out",
            single["non_2xx"] + single["timeouts"],
            "requests",
            None,
        ),
    ]


PARTS = ("single", "batches", "postgres", "file")


def run(seconds: int = 10, parts: tuple[str, ...] = PARTS) -> list[dict]:
    """Measure `parts` (all by default); rows of {"name", "value", "unit", "limit", "ratio"}."""
    work = Path(tempfile.mkdtemp(prefix="lp-bench-ingest-"))
    (work / "events.lua").write_text(LUA)
    try:
        rows = _sqlite_rows(seconds, work, parts) if {"single", "batches"} & set(parts) else []
        if "postgres" in parts:
            rows += _postgres_rows(seconds, work)
        if "file" in parts:
            rows += _file_rows(work)
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    """Print the figures as a Markdown table."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument(
        "--only", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}"
    )
    parser.add_argument("--prepare", metavar="KEY_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        _prepare("", args.prepare)
        return
    parts = tuple(args.only.split(","))
    if unknown := set(parts) - set(PARTS):
        parser.error(f"--only takes {', '.join(PARTS)}; not {', '.join(sorted(unknown))}")
    rows = run(args.seconds, parts)
    print("| measure | value | unit | limit or peer | ratio |")
    print("|---|---:|---|---:|---:|")
    for r in rows:
        limit = "" if r["limit"] is None else f"{r['limit']:,.0f}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        small = isinstance(r["value"], float) and r["value"] < 100
        value = f"{r['value']:,.2f}" if small else f"{r['value']:,.0f}"
        print(f"| {r['name']} | {value} | {r['unit']} | {limit} | {ratio} |")


if __name__ == "__main__":
    main()
