"""Survey page and submission speed on SQLite and PostgreSQL: uvicorn, wrk -c32.

    python bench/bench_survey.py            # prints a Markdown table
    python bench/bench_survey.py --seconds 20
    python bench/bench_survey.py --only postgres   # or sqlite

Goals: `GET /s/{token}` at least 1,500 pages/s with p99 under 50 ms, and at least 1,000 form
submissions/s (`POST /s/{token}`, every request a new invitation answered and stored with its
tallies). Submissions run twice: every score (about two in three open a follow-up, with an
email queued) and only scores that open none. A bare Litestar
endpoint sending the same page, measured in the same run, shows what the machine allows.
The rate limits stay on: page views spread over 5,000 tokens so no token passes its 20 a
minute, as with real customers. The same figures are then measured on PostgreSQL with two
server processes (a database created for the run and dropped after it; skipped when no server
answers at LISTENING_BENCH_POSTGRES_URL, default the local one).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import POSTGRES_URL, SECRET, WRK_THREADS, pg, row, serve, server_env, stop, wrk

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PAGE_TOKENS = 5_000
SUBMIT_TOKENS = 60_000

LUA = r"""
local tokens = {}
local counter = 0
local next_thread = 0

function setup(thread)
  -- `thread_number` becomes a global of that thread's own Lua state.
  thread:set("thread_number", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  local path, mode = args[1], args[2]
  for line in io.lines(path) do tokens[#tokens + 1] = line end
  counter = thread_number * math.floor(#tokens / %(threads)d)
  method = mode
  cookie = args[3]
  csrf = args[4]
end

function request()
  counter = counter + 1
  local token = tokens[(counter %% #tokens) + 1]
  if method == "GET" then
    return wrk.format("GET", "/s/" .. token, {["Accept"] = "text/html"})
  end
  -- POST: every score (CSAT 1–2 and CES 1–3 open follow-ups); POSTHIGH: none that does.
  local csat, effort = (counter %% 5) + 1, (counter %% 7) + 1
  if method == "POSTHIGH" then csat, effort = (counter %% 3) + 3, (counter %% 4) + 4 end
  local body = "_csrf_token=" .. csrf .. "&csat=" .. csat ..
    "&effort=" .. effort .. "&comment=Quick+and+friendly"
  return wrk.format("POST", "/s/" .. token, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "lp_csrf=" .. cookie,
    ["Accept"] = "text/html",
  }, body)
end
"""


BARE_APP = """
from litestar import Litestar, MediaType, get
from litestar.params import FromPath

PAGE = open("page.html").read()


@get("/s/{token:str}", media_type=MediaType.HTML)
async def page(token: FromPath[str]) -> str:
    return PAGE


app = Litestar([page])
"""


def _prepare(db_path: str, out_dir: str) -> None:
    """Child process: migrate a fresh SQLite file, load an organisation, write invitations."""
    sys.path.insert(0, str(ROOT / "tests"))
    import sqlite3
    from datetime import UTC, datetime, timedelta
    from uuid import uuid4

    import piccolo.engine.sqlite  # noqa: F401 (registers the datetime adapters used below)
    from survey_data import load_org

    from listening.migrate import migrate
    from listening.settings import get_settings
    from surveys.tokens import invitation_token, token_hash

    async def main() -> None:
        await migrate()
        await load_org()

    asyncio.run(main())
    settings = get_settings()
    now = datetime.now(UTC)
    total = PAGE_TOKENS + SUBMIT_TOKENS
    tokens: list[str] = []
    with sqlite3.connect(db_path) as conn:
        step = conn.execute("SELECT id FROM step WHERE key = 'ticket-resolved'").fetchone()[0]
        survey = conn.execute("SELECT id FROM survey WHERE step = ?", (step,)).fetchone()[0]
        conn.executemany(
            "INSERT INTO customer (external_id, created_at) VALUES (?, ?)",
            [(f"bench-{n}", now) for n in range(total)],
        )
        customers = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM customer WHERE external_id LIKE 'bench-%' ORDER BY id"
            )
        ]
        rows = []
        for customer in customers:
            uid = str(uuid4())
            token = invitation_token(settings.secret_key, uid)
            tokens.append(token)
            rows.append(
                (uid, token_hash(token), customer, survey, step, now, now + timedelta(days=7))
            )
        conn.executemany(
            "INSERT INTO invitation (uid, token_hash, customer, survey, step, channel, status, "
            "attributes, created_at, send_at, sent_at, expires_at, attempts) VALUES "
            '(?, ?, ?, ?, ?, \'link\', \'sent\', \'{"channel": "chat", "region": "north"}\', '
            "?, ?, ?, ?, 0)",
            [(u, h, c, v, st, t, t, t, e) for u, h, c, v, st, t, e in rows],
        )
    Path(out_dir, "page_tokens.txt").write_text("\n".join(tokens[:PAGE_TOKENS]) + "\n")
    Path(out_dir, "submit_tokens.txt").write_text("\n".join(tokens[PAGE_TOKENS:]) + "\n")


def _prepare_postgres(url: str, out_dir: str) -> None:
    """Child process: the same organisation and invitations in a fresh PostgreSQL database."""
    sys.path.insert(0, str(ROOT / "tests"))
    from datetime import UTC, datetime, timedelta
    from uuid import uuid4

    import asyncpg
    from survey_data import load_org

    from listening.migrate import migrate
    from listening.settings import get_settings
    from surveys.tokens import invitation_token, token_hash

    settings = get_settings()
    now = datetime.now(UTC)
    total = PAGE_TOKENS + SUBMIT_TOKENS
    tokens: list[str] = []

    async def main() -> None:
        await migrate()
        await load_org()
        conn = await asyncpg.connect(url)
        try:
            step = await conn.fetchval("SELECT id FROM step WHERE key = 'ticket-resolved'")
            survey = await conn.fetchval("SELECT id FROM survey WHERE step = $1", step)
            await conn.copy_records_to_table(
                "customer",
                records=[(f"bench-{n}", now) for n in range(total)],
                columns=["external_id", "created_at"],
            )
            customers = [
                r[0]
                for r in await conn.fetch(
                    "SELECT id FROM customer WHERE external_id LIKE 'bench-%' ORDER BY id"
                )
            ]
            rows = []
            for customer in customers:
                uid = str(uuid4())
                token = invitation_token(settings.secret_key, uid)
                tokens.append(token)
                rows.append(
                    (
                        uid,
                        token_hash(token),
                        customer,
                        survey,
                        step,
                        "link",
                        "sent",
                        '{"channel": "chat", "region": "north"}',
                        now,
                        now,
                        now,
                        now + timedelta(days=7),
                        0,
                    )
                )
            await conn.copy_records_to_table(
                "invitation",
                records=rows,
                columns=[
                    "uid",
                    "token_hash",
                    "customer",
                    "survey",
                    "step",
                    "channel",
                    "status",
                    "attributes",
                    "created_at",
                    "send_at",
                    "sent_at",
                    "expires_at",
                    "attempts",
                ],
            )
        finally:
            await conn.close()

    asyncio.run(main())
    Path(out_dir, "page_tokens.txt").write_text("\n".join(tokens[:PAGE_TOKENS]) + "\n")
    Path(out_dir, "submit_tokens.txt").write_text("\n".join(tokens[PAGE_TOKENS:]) + "\n")


def _measure_app(
    env: dict, data: Path, lua: Path, seconds: int, workers: int = 1
) -> tuple[dict, dict, dict]:
    """Page views, submissions (every score) and submissions (no follow-ups) on one server."""
    from litestar.middleware.csrf import generate_csrf_token

    csrf = generate_csrf_token(SECRET)
    pages = data / "page_tokens.txt"
    submits = data / "submit_tokens.txt"
    server, url = serve(["listening.app:create_app", "--factory"], env, data, workers=workers)
    try:
        # The real page, saved for the bare reference endpoint to answer with.
        import urllib.request

        first = pages.read_text().split()[-1]
        with urllib.request.urlopen(f"{url}/s/{first}") as answer:
            (data / "page.html").write_bytes(answer.read())
        wrk(url, lua, 2, str(pages), "GET")  # warm-up
        page = wrk(url, lua, seconds, str(pages), "GET")
        half = submits.read_text().split("\n")
        mixed, high = data / "mixed_tokens.txt", data / "high_tokens.txt"
        mixed.write_text("\n".join(half[: len(half) // 2]) + "\n")
        high.write_text("\n".join(t for t in half[len(half) // 2 :] if t) + "\n")
        submit = wrk(url, lua, seconds, str(mixed), "POST", csrf, csrf)
        plain = wrk(url, lua, seconds, str(high), "POSTHIGH", csrf, csrf)
    finally:
        stop(server)
    return page, submit, plain


def _sqlite_rows(seconds: int, work: Path, lua: Path) -> list[dict]:
    db = work / "bench.db"
    env = server_env(f"sqlite:///{db}")
    subprocess.run([sys.executable, __file__, "--prepare", str(db), str(work)], env=env, check=True)
    pages = work / "page_tokens.txt"
    page, submit, plain = _measure_app(env, work, lua, seconds)
    stored = _count(db)
    # The same machine's ceiling in the same run: a bare Litestar endpoint sending that page.
    (work / "bare_app.py").write_text(BARE_APP)
    bare_server, bare_url = serve(
        ["bare_app:app"], {**env, "PYTHONPATH": str(work)}, work, ready="/s/x"
    )
    try:
        wrk(bare_url, lua, 2, str(pages), "GET")
        bare = wrk(bare_url, lua, seconds, str(pages), "GET")
    finally:
        stop(bare_server)
    return [
        row("bare Litestar endpoint, same page (reference)", bare["rate"], "pages/s", None),
        *_rows(page, submit, plain, stored, engine="", bare=bare),
    ]


def _rows(
    page: dict, submit: dict, plain: dict, stored: int, *, engine: str, bare: dict | None = None
) -> list[dict]:
    """The table rows of one engine's run; `engine` is "" for SQLite or ", PostgreSQL"."""
    rows = [row(f"GET /s/{{token}} pages{engine}", page["rate"], "pages/s", 1500)]
    if bare is not None:
        rows.append(
            row("GET /s/{token} pages / bare endpoint", page["rate"] / bare["rate"], "", None)
        )
    return [
        *rows,
        row(f"GET /s/{{token}} p99{engine}", page["p99_ms"], "ms", 50, higher=False),
        row(f"GET /s/{{token}} refused{engine}", page["non_2xx"], "requests", None),
        row(
            f"POST /s/{{token}} submissions, every score{engine}",
            submit["rate"],
            "submissions/s",
            1000,
        ),
        row(f"POST /s/{{token}} p99{engine}", submit["p99_ms"], "ms", None),
        row(f"POST /s/{{token}} refused{engine}", submit["non_2xx"], "requests", None),
        row(
            f"POST /s/{{token}} submissions, no follow-ups{engine}",
            plain["rate"],
            "submissions/s",
            1000,
        ),
        row(f"POST /s/{{token}} p99, no follow-ups{engine}", plain["p99_ms"], "ms", None),
        row(
            f"POST /s/{{token}} refused, no follow-ups{engine}", plain["non_2xx"], "requests", None
        ),
        row(f"responses stored{engine}", stored, "rows", None),
    ]


def _postgres_rows(seconds: int, work: Path, lua: Path) -> list[dict]:
    from urllib.parse import urlparse

    import asyncpg

    name = f"lp_bench_survey_{os.getpid()}"
    try:
        asyncio.run(pg(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        return [row(f"PostgreSQL skipped ({type(exc).__name__})", 0, "", None)]
    url = urlparse(POSTGRES_URL)._replace(path=f"/{name}").geturl()
    data = work / "pg"
    data.mkdir()
    try:
        env = server_env(url)
        subprocess.run(
            [sys.executable, __file__, "--prepare-postgres", url, str(data)], env=env, check=True
        )
        # Two server processes, as a PostgreSQL installation runs behind a load balancer.
        page, submit, plain = _measure_app(env, data, lua, seconds, workers=2)
        stored = asyncio.run(pg("SELECT count(*) FROM response", url))
    finally:
        asyncio.run(pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return _rows(page, submit, plain, stored, engine=", PostgreSQL")


PARTS = ("sqlite", "postgres")


def run(seconds: int = 10, parts: tuple[str, ...] = PARTS) -> list[dict]:
    """Measure page views and submissions; rows of {"name","value","unit","limit","ratio"}."""
    work = Path(tempfile.mkdtemp(prefix="lp-bench-survey-"))
    try:
        lua = work / "survey.lua"
        lua.write_text(LUA % {"threads": WRK_THREADS})
        rows = _sqlite_rows(seconds, work, lua) if "sqlite" in parts else []
        return rows + (_postgres_rows(seconds, work, lua) if "postgres" in parts else [])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _count(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM response").fetchone()[0]


def main() -> None:
    """Print the figures as a Markdown table."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument(
        "--only", default=",".join(PARTS), help=f"comma-separated engines of {', '.join(PARTS)}"
    )
    parser.add_argument("--prepare", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--prepare-postgres", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        _prepare(*args.prepare)
        return
    if args.prepare_postgres:
        _prepare_postgres(*args.prepare_postgres)
        return
    parts = tuple(args.only.split(","))
    if unknown := set(parts) - set(PARTS):
        parser.error(f"--only takes {', '.join(PARTS)}; not {', '.join(sorted(unknown))}")
    rows = run(args.seconds, parts)
    print("| benchmark | value | unit | limit | ratio |")
    print("|---|---:|---|---:|---:|")
    for r in rows:
        value = f"{r['value']:,.1f}" if isinstance(r["value"], float) else f"{r['value']:,}"
        print(f"| {r['name']} | {value} | {r['unit']} | {r['limit'] or ''} | {r['ratio'] or ''} |")


if __name__ == "__main__":
    main()
