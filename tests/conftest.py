"""Test harness: one suite, two engines.

`LISTENING_TEST_ENGINE=sqlite` (default) runs on a fresh SQLite file; `=postgresql` creates a
database of its own on the server named by `LISTENING_TEST_POSTGRES_URL` (default the local
server) and drops it at the end. The environment is set here, before the app is imported,
because Piccolo binds tables to the engine on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import pytest

T = TypeVar("T")

ENGINE = os.environ.get("LISTENING_TEST_ENGINE", "sqlite")
# The statistics simulations touch no database: they run once, in the SQLite pass.
collect_ignore = ["test_stats_simulation.py"] if ENGINE == "postgresql" else []
ADMIN_URL = os.environ.get(
    "LISTENING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
_TMP = Path(tempfile.mkdtemp(prefix="listening-tests-"))
# The SQLite database and its snapshots live in memory where the system offers it: the suite
# tests behaviour, not the disk, and a sync per commit was most of a SQLite pass's time.
_SHM = Path("/dev/shm")
_DB_DIRS: list[Path] = []  # made by pytest_configure, removed by pytest_unconfigure
_PG_DB = f"lp_test_{os.getpid()}_{secrets.token_hex(3)}"


def _pg_url(database: str) -> str:
    parsed = urlparse(ADMIN_URL)
    return parsed._replace(path=f"/{database}").geturl()


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pytest_configure(config: pytest.Config) -> None:
    """Point the app at this run's own database before anything imports it."""
    os.environ["LISTENING_SECRET_KEY"] = "test-secret-" + "k" * 40
    os.environ["LISTENING_FAST_PASSWORD_HASH"] = "1"
    # The in-process tests' client talks to http://testserver.local: the public address.
    os.environ["LISTENING_BASE_URL"] = "http://testserver.local"
    os.environ.pop("LISTENING_REDIS_URL", None)
    os.environ.pop("LISTENING_SMTP_HOST", None)
    if ENGINE == "postgresql":
        try:
            asyncio.run(_pg_admin(f'CREATE DATABASE "{_PG_DB}"'))
        except (TimeoutError, OSError) as exc:
            pytest.exit(
                f"PostgreSQL pass skipped: no server at {ADMIN_URL} ({exc}). "
                "Start PostgreSQL or set LISTENING_TEST_POSTGRES_URL.",
                returncode=3,
            )
        os.environ["LISTENING_DATABASE_URL"] = _pg_url(_PG_DB)
    elif ENGINE == "sqlite":
        where = _SHM if _SHM.is_dir() else None
        _DB_DIRS.append(Path(tempfile.mkdtemp(prefix="listening-tests-db-", dir=where)))
        os.environ["LISTENING_DATABASE_URL"] = f"sqlite:///{_DB_DIRS[0] / 'test.db'}"
    else:
        raise pytest.UsageError(f"LISTENING_TEST_ENGINE must be sqlite or postgresql, not {ENGINE}")
    os.environ["PICCOLO_CONF"] = "listening.piccolo_conf"


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop this run's PostgreSQL database, and its SQLite files (they take memory)."""
    for folder in _DB_DIRS:
        shutil.rmtree(folder, ignore_errors=True)
    if ENGINE == "postgresql" and os.environ.get("LISTENING_DATABASE_URL", "").endswith(_PG_DB):
        with contextlib.suppress(OSError):
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{_PG_DB}" WITH (FORCE)'))


# Tests of many seconds each (several processes, a fuzzer, whole demos and CLI runs), marked
# slow in one place so that `.ci/test --fast` leaves them out. Prefixes of test ids.
SLOW = (
    "tests/test_fuzz_api.py",
    "tests/test_crash_safety.py",
    "tests/test_backup_copy.py",
    "tests/test_concurrency.py",
    "tests/test_demo.py",
    "tests/test_scale_out.py",
    "tests/test_cli.py",
    "tests/test_dashboard_report.py::test_cli_writes_the_overview_report",
    "tests/test_login_throttle.py::test_login_limits_hold_across_two_server_processes",
    "tests/test_rate_limit.py::test_two_app_instances_share_limits_through_redis",
    "tests/test_worker.py::test_cli_",
    "tests/test_triggers.py::test_sample_rate_holds_over_ten_thousand_events",
    # The demo's story for the other seeds; its own seed (7) stays in the fast subset.
    "tests/test_demo_story.py::test_the_demo_tells_its_story_for_every_seed[11]",
    "tests/test_demo_story.py::test_the_demo_tells_its_story_for_every_seed[2027]",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests listed in SLOW."""
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)


def pytest_report_header(config: pytest.Config) -> str:
    """Say which engine this run uses."""
    return f"listening engine: {ENGINE} ({os.environ.get('LISTENING_DATABASE_URL')})"


@pytest.fixture(scope="session")
def engine_name() -> str:
    """'sqlite' or 'postgresql'."""
    return ENGINE


@pytest.fixture(scope="session")
def tmp_root() -> Path:
    """A folder for this run's files."""
    return _TMP


@pytest.fixture(scope="session")
async def schema() -> AsyncIterator[None]:
    """Apply the migrations once per run; on SQLite keep the empty database as a snapshot."""
    from piccolo.engine.postgres import PostgresEngine

    from listening.migrate import migrate
    from surveys.tables import Department

    await migrate()
    if ENGINE == "sqlite":
        save_snapshot(EMPTY)
    engine = Department._meta.db
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(max_size=30)
    yield
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()


# SQLite snapshots of the test database: the empty one, and data that many tests load (see
# `restore_or_build`). Restoring one is a page copy through SQLite's backup API, safe beside
# the connections the app keeps open, and far cheaper than emptying table by table.
EMPTY = "empty"


def _test_db() -> str:
    return urlparse(os.environ["LISTENING_DATABASE_URL"]).path


def _snapshot(name: str, suffix: str = ".db") -> Path:
    return Path(_test_db()).parent / "snapshots" / f"{name}{suffix}"


def _copy_database(source: str, target: str) -> None:
    with (
        contextlib.closing(sqlite3.connect(source, timeout=30)) as src,
        contextlib.closing(sqlite3.connect(target, timeout=30)) as dst,
    ):
        src.backup(dst)


def save_snapshot(name: str) -> None:
    """Keep the test database as it is now under `name` (SQLite)."""
    _snapshot(name).parent.mkdir(exist_ok=True)
    _copy_database(_test_db(), str(_snapshot(name)))


def restore_snapshot(name: str) -> bool:
    """Put the test database back as it was saved under `name`; False when there is none."""
    path = _snapshot(name)
    if not path.exists():
        return False
    _copy_database(str(path), _test_db())
    return True


def _is_empty() -> bool:
    with contextlib.closing(sqlite3.connect(_test_db(), timeout=30)) as conn:
        names = [t._meta.tablename for t in all_tables()]
        counts = " + ".join(f'(SELECT count(*) FROM "{n}")' for n in names)
        return conn.execute(f"SELECT {counts}").fetchone()[0] == 0


async def restore_or_build(name: str, build: Callable[[], Awaitable[T]]) -> T:
    """`build()` on the test database, or on SQLite the snapshot of its first run.

    A snapshot stands for data built on an empty database, so it is only used (and made) when
    the database is empty; otherwise, and on PostgreSQL, `build()` runs.
    """
    if ENGINE != "sqlite" or not _is_empty():
        return await build()
    result_file = _snapshot(name, ".json")
    if restore_snapshot(name):
        return json.loads(result_file.read_text())
    result = await build()
    save_snapshot(name)
    result_file.write_text(json.dumps(result))
    return result


def all_tables() -> list:
    """Every table of the project, parents before children."""
    from piccolo.conf.apps import Finder
    from piccolo.table import sort_table_classes

    return sort_table_classes(Finder().get_table_classes())


@pytest.fixture
async def db(schema: None) -> AsyncIterator[None]:
    """An empty database for each test."""
    from surveys.organisation import forget_cached

    forget_cached()
    if ENGINE == "postgresql":
        tables = all_tables()
        names = ", ".join(f'"{t._meta.tablename}"' for t in tables)
        await tables[0]._meta.db.run_ddl(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    else:
        restore_snapshot(EMPTY)
    yield


@pytest.fixture
async def dashboard_scenario(db: None) -> int:
    """The dashboards' scenario (`dashboard_data.scenario`), loaded before any other data so
    that its snapshot serves; returns its round's id."""
    from dashboard_data import scenario

    return await scenario()


@pytest.fixture
def settings(db: None):
    """The settings the app under test runs with."""
    from listening.settings import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def shared_app(schema: None):
    """The application under test, built once: building it costs about half a second."""
    from listening.app import create_app
    from listening.settings import load_settings

    return create_app(load_settings(), manage_pool=False)


def _emptied(app: Any) -> Any:
    # An app serves many tests: each starts with no request counted against its limits.
    app.state["rate_counter"].reset()
    app.state["login_throttle"].failures.reset()
    return app


class _TestsClock:
    """The clock of an app that serves many tests: the one the current test handed it."""

    def __init__(self) -> None:
        from surveys.clock import system_clock

        self.clock: Callable[[], datetime] = system_clock

    def __call__(self) -> datetime:
        return self.clock()


_APPS: dict[str, tuple[Any, _TestsClock]] = {}


def app_with(settings: Any, clock: Callable[[], datetime] | None = None) -> Any:
    """An app on `settings` that reads `clock` (else real time).

    Built once per run for each settings, like `shared_app`, and handed out with its in-memory
    limits emptied and its clock set to this test's. An app on Redis is built afresh: its limits
    live outside the process.
    """
    from listening.app import create_app
    from surveys.clock import system_clock

    if settings.redis_url:
        return create_app(settings, clock=clock or system_clock, manage_pool=False)
    key = repr(settings)
    if key not in _APPS:
        shared_clock = _TestsClock()
        _APPS[key] = (create_app(settings, clock=shared_clock, manage_pool=False), shared_clock)
    app, shared_clock = _APPS[key]
    shared_clock.clock = clock or system_clock
    return _emptied(app)


@pytest.fixture
async def app(shared_app, settings):
    """The application on the test database, its in-memory rate limits emptied for each test.

    Tests that need other settings or a clock of their own use `app_with`.
    """
    return _emptied(shared_app)


@pytest.fixture
async def client(app) -> AsyncIterator:
    """An HTTP client talking to the app in-process, in the test's own event loop."""
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        yield c


async def login(client, email: str, password: str) -> None:
    """Log a test client in through the real form, CSRF token included."""
    page = await client.get("/login")
    assert page.status_code == 200
    token = client.cookies.get("lp_csrf")
    response = await client.post(
        "/login",
        data={"email": email, "password": password, "_csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    # JSON requests of a session carry the token in a header.
    client.headers["x-csrftoken"] = client.cookies.get("lp_csrf")


PASSWORD = "correct horse battery"


@pytest.fixture
async def admin_user(db: None):
    """An admin account."""
    from surveys.accounts import create_user

    return await create_user(
        email="admin@example.com", name="Ada Admin", roles=["admin"], password=PASSWORD
    )


@pytest.fixture
async def admin_client(client, admin_user):
    """The test client, logged in as the admin."""
    await login(client, admin_user.email, PASSWORD)
    return client


@pytest.fixture
async def admin_key(db: None) -> str:
    """An API key of scope admin."""
    from listening.apikeys import create_key

    _, key = await create_key("automation", "admin")
    return key


@pytest.fixture
async def ingest_key(db: None) -> str:
    """An API key of scope ingest."""
    from listening.apikeys import create_key

    _, key = await create_key("helpdesk", "ingest")
    return key


@pytest.fixture
async def suppress_key(db: None) -> str:
    """An API key of scope suppress (events and suppressions)."""
    from listening.apikeys import create_key

    _, key = await create_key("mail bounces", "suppress")
    return key


# --- real servers and a real browser ---------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
# Headless Debian chromium as root, with nothing reaching outside this machine.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """A real uvicorn process serving the app on the test database; yields its URL.

    A process, not a thread: on PostgreSQL the tests' pool belongs to the tests' event loop and
    Piccolo's engine is process-wide. The process reads the same settings from the environment.
    """
    from live_server import LiveServer

    live = LiveServer(tmp_path_factory.mktemp("server") / "server.log").start()
    try:
        yield live.url
    finally:
        live.stop()


@pytest.fixture
async def browser() -> AsyncIterator:
    """Debian's chromium driven by Playwright (which never downloads a browser here)."""
    from playwright.async_api import async_playwright

    assert Path(CHROMIUM).exists(), "browser tests need Debian's chromium: apt-get install chromium"
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()
