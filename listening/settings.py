"""Settings read from the environment once, as frozen dataclasses."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

log = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite:///listening.db"


class SettingsError(ValueError):
    """A setting has a value Listening Post cannot start with; the message names the variable."""


@dataclass(frozen=True)
class DatabaseSettings:
    """Which database to use: a SQLite file or a PostgreSQL server."""

    url: str
    engine: str  # "sqlite" or "postgresql"
    sqlite_path: Path | None


@dataclass(frozen=True)
class SmtpSettings:
    """How email leaves: an SMTP relay. Without a host, email stays queued."""

    host: str | None
    port: int
    username: str | None
    password: str | None
    tls: str  # "none", "starttls" or "tls"
    sender: str


@dataclass(frozen=True)
class Settings:
    """Everything Listening Post reads from its environment."""

    database: DatabaseSettings
    secret_key: str
    base_url: str | None
    anonymity_threshold: int
    comment_threshold: int
    public_rate_limit: int
    token_rate_limit: int
    redis_url: str | None
    trusted_proxies: tuple[str, ...]
    smtp: SmtpSettings
    follow_up_webhook_url: str | None
    retention_days: int | None
    max_body_bytes: int
    delivery_lease_seconds: int = 300
    # Fewer raters than this make a gap "indicative" (no verdict); never below the threshold.
    verdict_min_raters: int = 10
    # Host headers answered; empty means the base URL's host plus localhost and 127.0.0.1.
    allowed_hosts: tuple[str, ...] = ()
    session_idle_seconds: int = 8 * 3600
    session_lifetime_seconds: int = 7 * 24 * 3600
    # The privacy desk sends one address at most one link to opt back in in this time.
    opt_in_link_cooldown_seconds: int = 600

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry Secure when the public address is https."""
        return bool(self.base_url and self.base_url.startswith("https://"))


# Where links point when LISTENING_BASE_URL is unset and no listening address is known.
DEFAULT_LISTEN_URL = "http://127.0.0.1:8000"


def public_base_url(settings: Settings, listen_url: str | None = None) -> str:
    """The address every link in an email or webhook starts with; never a request's Host.

    LISTENING_BASE_URL when set, else the address `serve` listens on (which `serve` allows only
    on loopback), else http://127.0.0.1:8000.
    """
    return (settings.base_url or listen_url or DEFAULT_LISTEN_URL).rstrip("/")


def allowed_hosts(settings: Settings, listen_url: str | None = None) -> list[str]:
    """The host names requests may name in their Host header (any port): LISTENING_ALLOWED_HOSTS,
    else the base URL's host, localhost and 127.0.0.1."""
    if settings.allowed_hosts:
        return list(settings.allowed_hosts)
    base = urlparse(public_base_url(settings, listen_url)).hostname or "localhost"
    return list(dict.fromkeys([base, "localhost", "127.0.0.1"]))


def _int(env: dict[str, str], name: str, default: int, *, minimum: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def parse_database_url(url: str) -> DatabaseSettings:
    """Check a LISTENING_DATABASE_URL and say which engine it selects."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute/path.db, as SQLAlchemy spells them.
        raw_path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not raw_path:
            raise SettingsError(
                "LISTENING_DATABASE_URL: a SQLite URL looks like sqlite:///listening.db, "
                f"got {url!r}"
            )
        return DatabaseSettings(url=url, engine="sqlite", sqlite_path=Path(raw_path))
    if parsed.scheme in {"postgresql", "postgres"}:
        if not parsed.hostname or not parsed.path.strip("/"):
            raise SettingsError(
                "LISTENING_DATABASE_URL: a PostgreSQL URL looks like "
                f"postgresql://user:pass@host:5432/dbname, got {url!r}"
            )
        return DatabaseSettings(url=url, engine="postgresql", sqlite_path=None)
    raise SettingsError(
        f"LISTENING_DATABASE_URL must start with sqlite:/// or postgresql://, got {url!r}"
    )


def _secret_key(env: dict[str, str], database: DatabaseSettings) -> str:
    key = env.get("LISTENING_SECRET_KEY", "")
    if key:
        if len(key) < 32:
            raise SettingsError("LISTENING_SECRET_KEY must be at least 32 characters long")
        return key
    if database.engine == "postgresql":
        raise SettingsError(
            "LISTENING_SECRET_KEY is required when the database is PostgreSQL: every server "
            "process must sign with the same key"
        )
    assert database.sqlite_path is not None
    key_file = database.sqlite_path.with_name(database.sqlite_path.name + ".secret")
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_urlsafe(48)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    log.warning(
        "LISTENING_SECRET_KEY is not set: generated one and stored it in %s. "
        "Keep that file with the database; set the variable in production.",
        key_file,
    )
    return key


def _base_url(env: dict[str, str]) -> str | None:
    raw = env.get("LISTENING_BASE_URL", "").strip()
    if not raw:
        return None
    parsed = urlparse(raw)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise SettingsError(f"LISTENING_BASE_URL must be an http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def _hosts(raw: str) -> tuple[str, ...]:
    # Host names only: a port written after one is dropped, the check ignores ports.
    names = []
    for entry in raw.split(","):
        entry = entry.strip().lower()
        if entry.count(":") == 1:
            entry = entry.split(":", 1)[0]
        if entry:
            names.append(entry)
    return tuple(names)


def _smtp(env: dict[str, str]) -> SmtpSettings:
    tls = env.get("LISTENING_SMTP_TLS", "none").lower()
    if tls not in {"none", "starttls", "tls"}:
        raise SettingsError(f"LISTENING_SMTP_TLS must be none, starttls or tls, got {tls!r}")
    return SmtpSettings(
        host=env.get("LISTENING_SMTP_HOST") or None,
        port=_int(env, "LISTENING_SMTP_PORT", 465 if tls == "tls" else 25, minimum=1),
        username=env.get("LISTENING_SMTP_USERNAME") or None,
        password=env.get("LISTENING_SMTP_PASSWORD") or None,
        tls=tls,
        sender=env.get("LISTENING_SMTP_SENDER", "Listening Post <feedback@localhost>"),
    )


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read and check every setting; raise SettingsError naming the first bad variable."""
    env = dict(os.environ if env is None else env)
    synchronous = env.get("LISTENING_SQLITE_SYNCHRONOUS", "full").lower()
    if synchronous not in {"full", "normal"}:
        raise SettingsError(
            f"LISTENING_SQLITE_SYNCHRONOUS must be full or normal, got {synchronous!r}"
        )
    database = parse_database_url(env.get("LISTENING_DATABASE_URL") or DEFAULT_DATABASE_URL)
    threshold = _int(env, "LISTENING_ANONYMITY_THRESHOLD", 5, minimum=3)
    comment_threshold = _int(env, "LISTENING_COMMENT_THRESHOLD", 10, minimum=threshold)
    verdict_min_raters = _int(env, "LISTENING_VERDICT_MIN_RATERS", 10, minimum=threshold)
    retention = env.get("LISTENING_RETENTION_DAYS")
    proxies = tuple(
        p.strip() for p in env.get("LISTENING_TRUSTED_PROXIES", "").split(",") if p.strip()
    )
    return Settings(
        database=database,
        secret_key=_secret_key(env, database),
        base_url=_base_url(env),
        anonymity_threshold=threshold,
        comment_threshold=comment_threshold,
        verdict_min_raters=verdict_min_raters,
        public_rate_limit=_int(env, "LISTENING_PUBLIC_RATE_LIMIT", 10, minimum=1),
        token_rate_limit=_int(env, "LISTENING_TOKEN_RATE_LIMIT", 20, minimum=1),
        redis_url=env.get("LISTENING_REDIS_URL") or None,
        trusted_proxies=proxies,
        smtp=_smtp(env),
        follow_up_webhook_url=env.get("LISTENING_FOLLOW_UP_WEBHOOK_URL") or None,
        retention_days=_int(env, "LISTENING_RETENTION_DAYS", 0, minimum=1) if retention else None,
        max_body_bytes=_int(env, "LISTENING_MAX_BODY_BYTES", 16 * 1024 * 1024, minimum=1024),
        # How long a worker holds what it claimed: a worker that dies mid-send leaves its rows
        # to be claimed again (and re-sent with the same Message-ID) once the lease runs out.
        delivery_lease_seconds=_int(env, "LISTENING_DELIVERY_LEASE_SECONDS", 300, minimum=5),
        allowed_hosts=_hosts(env.get("LISTENING_ALLOWED_HOSTS", "")),
        session_idle_seconds=60 * _int(env, "LISTENING_SESSION_IDLE_MINUTES", 480, minimum=1),
        session_lifetime_seconds=3600
        * _int(env, "LISTENING_SESSION_LIFETIME_HOURS", 168, minimum=1),
        opt_in_link_cooldown_seconds=60
        * _int(env, "LISTENING_OPT_IN_LINK_COOLDOWN_MINUTES", 10, minimum=1),
    )


@cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
