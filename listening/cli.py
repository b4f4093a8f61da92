"""The `listening` command line: serve, worker, migrate, load, users, API keys, demo."""

from __future__ import annotations

import asyncio
import functools
import getpass
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from listening.settings import SettingsError, get_settings, public_base_url


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def _audit(kind: str, action: str, subject: str, **details: Any) -> None:
    """Record a change made from the command line in the audit log."""
    from surveys.audit import record

    _run(record(f"cli:{getpass.getuser()}", kind, action, subject, **details))


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn settings and domain errors into one clear line and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from surveys.errors import DomainError

        try:
            return func(*args, **kwargs)
        except SettingsError as exc:
            raise click.ClickException(f"configuration: {exc}") from None
        except DomainError as exc:
            where = f" ({exc.field})" if exc.field and exc.field not in exc.message else ""
            raise click.ClickException(f"{exc.message}{where}") from None

    return wrapper


@click.group()
@click.version_option(package_name="listening-post")
def main() -> None:
    """Listening Post: measure the gap between how employees and customers rate each step."""


@main.command()
@friendly_errors
def migrate() -> None:
    """Apply pending database migrations (LISTENING_DATABASE_URL)."""
    from listening.migrate import migrate as run_migrations

    settings = get_settings()
    _run(run_migrations())
    click.echo(f"database schema is up to date ({settings.database.engine})")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=int, help="Server processes.")
@click.option("--no-worker", is_flag=True, help="Do not run the delivery worker inside the server.")
@friendly_errors
def serve(host: str, port: int, workers: int, no_worker: bool) -> None:
    """Apply pending migrations, then run the web server (and the delivery worker)."""
    from listening.migrate import migrate as run_migrations

    _require_base_url(host)
    _run(run_migrations())
    _serve(host, port, workers, run_worker=not no_worker)


def _require_base_url(host: str) -> None:
    """Refuse to listen beyond this machine without LISTENING_BASE_URL.

    Links in emails and webhooks are built from the base URL, never from a request's Host
    header; on loopback the listening address serves as one, elsewhere it would be wrong.
    """
    import ipaddress

    if get_settings().base_url:
        return
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise click.ClickException(
            f"configuration: LISTENING_BASE_URL is required to serve on {host}: links in "
            "emails and webhooks start with it (e.g. LISTENING_BASE_URL=https://feedback."
            "example.com). Without it, serve on 127.0.0.1 only."
        )


def _serve(host: str, port: int, workers: int, *, run_worker: bool) -> None:
    import uvicorn

    # The factory reads these in each server process.
    os.environ["LISTENING_RUN_WORKER"] = "1" if run_worker else "0"
    os.environ["LISTENING_LISTEN_URL"] = f"http://{host}:{port}"
    uvicorn.run(
        "listening.asgi:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@friendly_errors
def load(file: Path) -> None:
    """Create or update the organisation, journeys, surveys and triggers from a TOML file."""
    from listening.journeys import load_journey_file

    summary = _run(load_journey_file(file))
    _audit("configuration", "load", file.name, after=summary)
    if not summary.changed:
        click.echo(f"{file}: nothing to change")
        return
    for outcome in ("created", "updated"):
        counts = getattr(summary, outcome)
        if counts:
            click.echo(f"{outcome}: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    for version in summary.new_survey_versions:
        click.echo(f"new survey version (the old one has answers): {version}")


@main.command()
@click.option("--interval", default=1.0, show_default=True, help="Seconds between idle passes.")
@click.option("--once", is_flag=True, help="Do one pass and exit.")
@click.option(
    "--base-url",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="Address for links when LISTENING_BASE_URL is unset (where `serve` listens).",
)
@friendly_errors
def worker(interval: float, once: bool, base_url: str) -> None:
    """Deliver due invitations, reminders and queued messages (email and webhooks)."""
    from listening.worker import run_standalone

    stats = _run(run_standalone(get_settings(), base_url=base_url, interval=interval, once=once))
    if stats is not None:
        click.echo(
            f"expired {stats.expired}, sent {stats.sent}, reminded {stats.reminded}, "
            f"messages {stats.messages_sent}, deferred {stats.deferred}, retried {stats.retried}, "
            f"failed {stats.failed}, cancelled {stats.cancelled}"
        )


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--dry-run", is_flag=True, help="Say what each trigger would decide and why; store nothing."
)
@friendly_errors
def ingest(file: Path, dry_run: bool) -> None:
    """Import touchpoint events from an NDJSON file (one event a line), as the API would."""
    from listening.ingest.drivers import ingest_file
    from listening.ingest.ingestor import close_ingestors

    settings = get_settings()
    if dry_run:
        from listening.dry_run import dry_run_lines

        for line in _run(dry_run_lines(file, secret_key=settings.secret_key)):
            click.echo(line)
        return

    async def run() -> Any:
        try:
            with click.progressbar(length=file.stat().st_size, label="events") as bar:
                return await ingest_file(file, secret_key=settings.secret_key, progress=bar.update)
        finally:
            await close_ingestors()

    summary = _run(run())
    click.echo(
        f"{summary.read} events read: {summary.accepted} stored, "
        f"{summary.duplicates} already known, {summary.rejected} rejected"
    )
    for status, count in sorted(summary.outcomes.items()):
        click.echo(f"  {status}: {count}")
    for error in summary.errors:
        click.echo(f"  {error}", err=True)


@main.command("webhook-secret")
@friendly_errors
def webhook_secret() -> None:
    """Print the secret that signs webhooks (receivers verify X-Listening-Signature with it)."""
    from listening.delivery.webhook import webhook_secret as derive

    click.echo(derive(get_settings().secret_key))


@main.group()
def user() -> None:
    """Manage people who log in."""


@user.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--role",
    "roles",
    required=True,
    multiple=True,
    type=click.Choice(["admin", "executive", "employee"]),
    help="Repeat for several roles.",
)
@click.option("--department", default=None, help="Department key (required for employees).")
@friendly_errors
def user_create(email: str, name: str, roles: tuple[str, ...], department: str | None) -> None:
    """Create a user; the password comes from a prompt or LISTENING_PASSWORD."""
    from surveys.accounts import create_user

    get_settings()
    password = os.environ.get("LISTENING_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    account = _run(
        create_user(
            email=email, name=name, roles=list(roles), password=password, department_key=department
        )
    )
    _audit(
        "user",
        "create",
        account.email,
        after={"name": name, "roles": list(account.roles), "department": department},
    )
    click.echo(f"created {account.email} ({', '.join(account.roles)})")


@main.group()
def apikey() -> None:
    """Manage API keys for other systems."""


@apikey.command("create")
@click.argument("name")
@click.option("--scope", required=True, type=click.Choice(["ingest", "suppress", "admin"]))
@friendly_errors
def apikey_create(name: str, scope: str) -> None:
    """Create a key; it is printed once, alone on the last line, and only its hash is stored."""
    from listening.apikeys import create_key

    get_settings()
    key_id, key = _run(create_key(name, scope))
    _audit("api_key", "create", f"{key_id} {name}", after={"scope": scope})
    click.echo(f"API key {key_id} ({scope}) created; store it now, it is not shown again:")
    click.echo(key)


@apikey.command("revoke")
@click.argument("key_id", type=int)
@friendly_errors
def apikey_revoke(key_id: int) -> None:
    """Revoke a key by its id; requests with it answer 401 from now on."""
    from listening.apikeys import revoke_key

    get_settings()
    _run(revoke_key(key_id))
    _audit("api_key", "revoke", str(key_id))
    click.echo(f"API key {key_id} revoked")


@apikey.command("list")
@friendly_errors
def apikey_list() -> None:
    """List keys (never their secrets)."""
    from listening.apikeys import list_keys

    get_settings()
    for row in _run(list_keys()):
        state = "revoked" if row["revoked_at"] else "active"
        click.echo(f"{row['id']}\t{row['name']}\t{row['scope']}\t{row['prefix']}…\t{state}")


@main.command()
@click.option("--no-serve", is_flag=True, help="Build the demo and exit.")
@click.option("--reset", is_flag=True, help="Start from an empty demo database.")
@click.option("--seed", default=7, show_default=True, type=int, help="Random seed of the story.")
@click.option("--size", default="small", show_default=True, type=click.Choice(["small", "large"]))
@click.option(
    "--months",
    default=6,
    show_default=True,
    type=click.IntRange(1, 24),
    help="History to simulate.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@friendly_errors
def demo(
    no_serve: bool, reset: bool, seed: int, size: str, months: int, host: str, port: int
) -> None:
    """Build a demo organisation with months of history, print the logins, and serve it."""
    from listening.demo.build import DEMO_PASSWORD, build_demo

    settings = get_settings()
    if not no_serve:
        _require_base_url(host)
    if reset and settings.database.engine == "sqlite":
        assert settings.database.sqlite_path is not None
        for suffix in ("", "-wal", "-shm"):
            Path(str(settings.database.sqlite_path) + suffix).unlink(missing_ok=True)
    elif reset:
        raise click.ClickException("--reset only removes SQLite files; drop the database yourself")
    url = public_base_url(settings, f"http://{host}:{port}")
    logins = _run(build_demo(seed=seed, size=size, months=months, base_url=url, progress=_progress))
    click.echo("")
    click.echo(f"Listening Post demo: {url}")
    for role, email in logins.items():
        click.echo(f"  {role:<10} {email}  password: {DEMO_PASSWORD}")
    if not no_serve:
        _serve(host, port, 1, run_worker=True)


def _progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    end = "\n" if done >= total else ""
    sys.stderr.write(f"\r{label:<28} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}{end}")
    sys.stderr.flush()


@main.command()
@click.option(
    "--older-than-days",
    type=click.IntRange(min=1),
    default=None,
    help="Default: LISTENING_RETENTION_DAYS.",
)
@friendly_errors
def purge(older_than_days: int | None) -> None:
    """Remove customers' personal data older than the retention period; scores stay."""
    from listening.event_privacy import purge_personal_data

    days = older_than_days or get_settings().retention_days
    if days is None:
        raise click.ClickException("set LISTENING_RETENTION_DAYS or pass --older-than-days")
    counts = _run(purge_personal_data(older_than_days=days))
    click.echo(
        f"purged personal data older than {days} days: "
        + ", ".join(f"{n} {kind}" for kind, n in counts.items())
    )


@main.command()
@click.option("--department", default=None, help="A department key; default: the org overview.")
@click.option("--from", "start", default=None, help="First day, YYYY-MM-DD (default: 90 days ago).")
@click.option("--to", "end", default=None, help="Last day, YYYY-MM-DD (default: today).")
@click.option("--journey", default=None, help="Only the steps of this journey.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="FILE.html (opens offline), FILE.png or FILE.pdf (need chromium and kaleido).",
)
@friendly_errors
def report(
    department: str | None, start: str | None, end: str | None, journey: str | None, out: Path
) -> None:
    """Write the perception-gap report: standalone HTML, or a PNG/PDF through kaleido."""
    from datetime import UTC, datetime

    from dashboards.filters import parse_filters
    from dashboards.report import ReportError, build_report, write_report

    settings = get_settings()
    params = {"from": start or "", "to": end or "", "journey": journey or ""}
    filters = parse_filters(params, today=datetime.now(UTC).date())
    built = _run(
        build_report(
            filters,
            department=department,
            threshold=settings.anonymity_threshold,
            comment_threshold=settings.comment_threshold,
            verdict_min_raters=settings.verdict_min_raters,
        )
    )
    try:
        kind = write_report(built, out)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{kind} report written to {out}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@friendly_errors
def backup(file: Path) -> None:
    """Write a consistent copy of the SQLite database to FILE, while the server runs."""
    from listening.backup import BackupError
    from listening.backup import backup as take_backup

    try:
        result = take_backup(get_settings().database, file)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backup written to {result.path} ({result.bytes} bytes, {result.tables} tables)")


@main.command()
@click.option("--to", "target", required=True, help="postgresql://user:pass@host/empty_db")
@friendly_errors
def copy(target: str) -> None:
    """Copy this SQLite installation, every row, into an empty PostgreSQL database."""
    from listening.copy import CopyError, copy_sqlite_to_postgres
    from listening.settings import parse_database_url

    settings = get_settings()
    if settings.database.engine != "sqlite":
        raise click.ClickException("copy moves a SQLite installation: the source is PostgreSQL")
    if parse_database_url(target).engine != "postgresql":
        raise click.ClickException("--to must be a postgresql:// URL")
    assert settings.database.sqlite_path is not None
    try:
        result = _run(
            copy_sqlite_to_postgres(
                settings.database.sqlite_path,
                target,
                secret_key=settings.secret_key,
                progress=lambda table, n: click.echo(f"  {table}: {n} rows"),
            )
        )
    except CopyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"copied {result.total} rows in {len(result.counts)} tables; counts verified")
    click.echo(
        "Now run Listening Post with LISTENING_DATABASE_URL set to the new database and "
        "LISTENING_SECRET_KEY set to this installation's key (the .secret file beside the "
        "SQLite database when the variable was not set): survey links and sessions depend on it."
    )


if __name__ == "__main__":
    main()
