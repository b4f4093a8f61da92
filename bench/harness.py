"""What every benchmark shares: the PostgreSQL server, server environments, ports, table rows."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-" + "s" * 40
POSTGRES_URL = os.environ.get(
    "LISTENING_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


WRK = shutil.which("wrk") or "/usr/bin/wrk"
WRK_THREADS = 2
WRK_CONNECTIONS = 32


def wrk(url: str, lua: Path, seconds: int, *args: str) -> dict:
    """Load `url` with wrk (2 threads, 32 connections) and its script `lua` given `args`.

    Returns the rate, the number of requests, the p99 latency in ms, the answers outside
    2xx/3xx, the timeouts and wrk's own output.
    """
    out = subprocess.run(
        [
            WRK,
            f"-t{WRK_THREADS}",
            f"-c{WRK_CONNECTIONS}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(lua),
            url,
            "--",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*timeout (\d+)", out)
    return {
        "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "total": int(re.search(r"(\d+) requests in", out).group(1)),
        "p99_ms": float(p99.group(1)) * scale,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "timeouts": int(errors.group(1)) if errors else 0,
        "raw": out,
    }


def serve(
    target: list[str], env: dict[str, str], cwd: Path, *, workers: int = 1, ready: str = "/health"
) -> tuple[subprocess.Popen, str]:
    """Start uvicorn on `target` (an app, or a factory with "--factory") on a free port and
    wait until `ready` answers at all (an error status counts: a bare app has no /health)."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            *target,
            "--workers",
            str(workers),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=cwd,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}{ready}", timeout=1):
                return server, url
        except urllib.error.HTTPError:
            return server, url
        except OSError:
            time.sleep(0.2)
    stop(server)
    raise RuntimeError(f"{' '.join(target)} did not start")


def stop(server: subprocess.Popen) -> None:
    """Stop a server started by `serve`."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


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
