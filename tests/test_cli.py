"""The command line, run as a user runs it: a subprocess on its own database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ENGINE


def run(args: list[str], env: dict[str, str], input_text: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "listening.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        input=input_text,
        timeout=120,
    )


@pytest.fixture
def cli_env(tmp_path):
    """The environment of a fresh SQLite installation (the CLI is engine-agnostic)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTENING_")}
    env["LISTENING_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    env["LISTENING_SECRET_KEY"] = "c" * 40
    env["PICCOLO_CONF"] = "listening.piccolo_conf"
    return env


def test_help_lists_every_command(cli_env):
    out = run(["--help"], cli_env).stdout
    for command in ("serve", "migrate", "load", "user", "apikey", "demo"):
        assert command in out


def test_apikey_create_prints_the_key_alone_on_the_last_line(cli_env):
    assert run(["migrate"], cli_env).returncode == 0
    result = run(["apikey", "create", "helpdesk", "--scope", "ingest"], cli_env)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("lp_") and " " not in key and len(key) > 40
    listed = run(["apikey", "list"], cli_env).stdout
    assert "helpdesk" in listed and key not in listed


def test_user_create_reads_the_password_from_the_environment(cli_env):
    run(["migrate"], cli_env)
    env = {**cli_env, "LISTENING_PASSWORD": "a long password"}
    ok = run(["user", "create", "--email", "a@x.com", "--name", "A", "--role", "admin"], env)
    assert ok.returncode == 0, ok.stderr
    dup = run(["user", "create", "--email", "a@x.com", "--name", "A", "--role", "admin"], env)
    assert dup.returncode != 0 and "exists" in dup.stderr
    no_dep = run(["user", "create", "--email", "b@x.com", "--name", "B", "--role", "employee"], env)
    assert no_dep.returncode != 0 and "department" in no_dep.stderr


def test_invalid_setting_stops_with_the_variable_named(cli_env):
    result = run(["migrate"], {**cli_env, "LISTENING_ANONYMITY_THRESHOLD": "1"})
    assert result.returncode != 0
    assert "LISTENING_ANONYMITY_THRESHOLD" in result.stderr


def test_load_reports_line_of_a_syntax_error(cli_env, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[departments]]\nkey = "x"\nname = \n')
    result = run(["load", str(bad)], cli_env)
    assert result.returncode != 0
    assert "line 3" in result.stderr


def test_demo_no_serve_builds_the_organisation_and_prints_logins(cli_env):
    result = run(["demo", "--no-serve", "--months", "1"], cli_env)
    assert result.returncode == 0, result.stderr
    assert "http://127.0.0.1:8000" in result.stdout
    for role in ("admin", "executive", "employee"):
        assert role in result.stdout
    assert "simulating" in result.stderr
    again = run(["demo", "--no-serve"], cli_env)
    assert again.returncode == 0, again.stderr
    assert "simulating" not in again.stderr  # the second run reuses the demo database


def test_cli_uses_the_database_url_of_this_pass(cli_env, schema):
    env = {**cli_env, "LISTENING_DATABASE_URL": os.environ["LISTENING_DATABASE_URL"]}
    result = run(["migrate"], env)
    assert result.returncode == 0, result.stderr
    assert f"({ENGINE})" in result.stdout
