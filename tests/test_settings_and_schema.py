"""Settings validation, and that the migrations build the schema the tables declare."""

from __future__ import annotations

import pytest
from conftest import all_tables

from listening.settings import SettingsError, load_settings

KEY = "k" * 40


def test_defaults_use_a_sqlite_file_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.database.engine == "sqlite"
    assert str(settings.database.sqlite_path) == "listening.db"
    assert settings.anonymity_threshold == 5
    assert settings.base_url is None


def test_secret_key_is_generated_once_beside_the_sqlite_file(tmp_path):
    env = {"LISTENING_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    first = load_settings(env).secret_key
    assert (tmp_path / "x.db.secret").read_text().strip() == first
    assert load_settings(env).secret_key == first
    assert len(first) >= 32


def test_postgres_requires_a_secret_key():
    with pytest.raises(SettingsError, match="LISTENING_SECRET_KEY"):
        load_settings({"LISTENING_DATABASE_URL": "postgresql://u@localhost:5432/db"})
    settings = load_settings(
        {"LISTENING_DATABASE_URL": "postgresql://u@localhost:5432/db", "LISTENING_SECRET_KEY": KEY}
    )
    assert settings.database.engine == "postgresql"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"LISTENING_ANONYMITY_THRESHOLD": "2"}, "LISTENING_ANONYMITY_THRESHOLD"),
        ({"LISTENING_ANONYMITY_THRESHOLD": "five"}, "LISTENING_ANONYMITY_THRESHOLD"),
        ({"LISTENING_DATABASE_URL": "mysql://x/y"}, "LISTENING_DATABASE_URL"),
        ({"LISTENING_DATABASE_URL": "postgresql://"}, "LISTENING_DATABASE_URL"),
        ({"LISTENING_BASE_URL": "ftp://x"}, "LISTENING_BASE_URL"),
        ({"LISTENING_SECRET_KEY": "short"}, "LISTENING_SECRET_KEY"),
        ({"LISTENING_SMTP_TLS": "maybe"}, "LISTENING_SMTP_TLS"),
        ({"LISTENING_PUBLIC_RATE_LIMIT": "0"}, "LISTENING_PUBLIC_RATE_LIMIT"),
        ({"LISTENING_SQLITE_SYNCHRONOUS": "off"}, "LISTENING_SQLITE_SYNCHRONOUS"),
        (
            {"LISTENING_OPT_IN_LINK_COOLDOWN_MINUTES": "0"},
            "LISTENING_OPT_IN_LINK_COOLDOWN_MINUTES",
        ),
    ],
)
def test_invalid_values_name_the_variable(tmp_path, env, variable):
    base = {"LISTENING_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "LISTENING_SECRET_KEY": KEY}
    with pytest.raises(SettingsError, match=variable):
        load_settings({**base, **env})


def test_the_opt_in_link_cooldown_is_read_in_minutes(tmp_path):
    env = {"LISTENING_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "LISTENING_SECRET_KEY": KEY}
    assert load_settings(env).opt_in_link_cooldown_seconds == 600
    quick = load_settings({**env, "LISTENING_OPT_IN_LINK_COOLDOWN_MINUTES": "2"})
    assert quick.opt_in_link_cooldown_seconds == 120


def test_https_base_url_makes_cookies_secure(tmp_path):
    env = {"LISTENING_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "LISTENING_SECRET_KEY": KEY}
    assert not load_settings(env).secure_cookies
    assert load_settings({**env, "LISTENING_BASE_URL": "https://fb.example.com/"}).secure_cookies


async def _columns(engine, table: str, engine_name: str) -> set[str]:
    if engine_name == "sqlite":
        rows = await engine.run_ddl(f'PRAGMA table_info("{table}")')
        return {r["name"] for r in rows}
    rows = await engine.run_ddl(
        "SELECT column_name FROM information_schema.columns "
        f"WHERE table_schema = 'public' AND table_name = '{table}'"
    )
    return {r["column_name"] for r in rows}


async def _indexes(engine, engine_name: str) -> set[str]:
    if engine_name == "sqlite":
        rows = await engine.run_ddl("SELECT name FROM sqlite_master WHERE type = 'index'")
        return {r["name"] for r in rows}
    rows = await engine.run_ddl("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
    return {r["indexname"] for r in rows}


async def test_migrations_give_the_schema_the_tables_declare(db, engine_name):
    tables = all_tables()
    engine = tables[0]._meta.db
    assert len(tables) >= 20
    for table in tables:
        declared = {c._meta.db_column_name for c in table._meta.columns}
        assert await _columns(engine, table._meta.tablename, engine_name) == declared, table


async def test_composite_unique_keys_exist_and_hold(db, engine_name):
    from surveys.tables import UNIQUE_INDEXES, Department, Journey, Step, Survey

    engine = Department._meta.db
    assert set(UNIQUE_INDEXES) <= await _indexes(engine, engine_name)
    from datetime import UTC, datetime

    dep = await Department.insert(Department(key="d", name="D")).returning(Department.id)
    jour = await Journey.insert(Journey(key="j", name="J")).returning(Journey.id)
    step = await Step.insert(
        Step(key="s", name="S", journey=jour[0]["id"], department=dep[0]["id"])
    ).returning(Step.id)
    now = datetime.now(UTC)
    await Survey.insert(Survey(step=step[0]["id"], name="x", version=1, created_at=now))
    with pytest.raises(Exception, match=r"(?i)unique"):
        await Survey.insert(Survey(step=step[0]["id"], name="y", version=1, created_at=now))
