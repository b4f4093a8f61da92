"""What every benchmark shares: the PostgreSQL server, server environments, ports, table rows."""

from __future__ import annotations

import os
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-" + "s" * 40
POSTGRES_URL = os.environ.get(
    "LISTENING_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(url: str) -> dict[str, str]:
    """The environment of a server under test on the database `url`, without outside services."""
    env = {
        **os.environ,
        "LISTENING_DATABASE_URL": url,
        "LISTENING_SECRET_KEY": SECRET,
        "PICCOLO_CONF": "listening.piccolo_conf",
        "PYTHONPATH": str(ROOT),
    }
    for name in ("LISTENING_REDIS_URL", "LISTENING_BASE_URL", "LISTENING_SMTP_HOST"):
        env.pop(name, None)
    return env


def row(name: str, value: float, unit: str, limit: float | None, higher: bool = True) -> dict:
    """One row of the benchmark table; `higher` says whether a bigger figure is better."""
    ratio = None
    if limit:
        ratio = round(value / limit if higher else (limit / value if value else 0.0), 2)
    return {"name": name, "value": value, "unit": unit, "limit": limit, "ratio": ratio}


async def pg(sql: str, url: str = POSTGRES_URL) -> object:
    """Run one statement on a PostgreSQL server (the value of a SELECT)."""
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        return await conn.fetchval(sql) if sql.startswith("SELECT") else await conn.execute(sql)
    finally:
        await conn.close()
