"""A real server for tests that need one: uvicorn in a subprocess on a free loopback port.

The server runs `listening.asgi:create_served_app` (what `listening serve` runs; with `cli=True`,
the `listening serve` command itself) against the test run's database, so tests prepare data
in-process and talk to the server over real HTTP. A subprocess rather than a thread: it owns its
event loop and its PostgreSQL pool, and a test can kill it with SIGKILL. Its output goes to a
log file that `log()` reads back for assertions.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

START_TIMEOUT_SECONDS = 90.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """One uvicorn process serving the app; `start()`, talk to `url`, then `stop()` or `kill()`."""

    def __init__(
        self,
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        run_worker: bool = False,
        port: int | None = None,
        cli: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {
            **os.environ,
            "LISTENING_RUN_WORKER": "1" if run_worker else "0",
            "LISTENING_LISTEN_URL": self.url,
            # Unset: on loopback the listening address is the base URL of links.
            "LISTENING_BASE_URL": "",
            **(env or {}),
        }
        self.cli = cli
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """uvicorn on the app factory; with `cli`, the `listening serve` command line itself."""
        if self.cli:
            listening = str(Path(sys.executable).with_name("listening"))
            worker = [] if self.env["LISTENING_RUN_WORKER"] == "1" else ["--no-worker"]
            return [listening, "serve", *worker, "--host", "127.0.0.1", "--port", str(self.port)]
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "listening.asgi:create_served_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--timeout-graceful-shutdown",
            "10",
        ]

    def start(self) -> LiveServer:
        """Start the process and wait until /health answers 200."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited at start:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(
            f"the server did not answer within {START_TIMEOUT_SECONDS}s:\n{self.log()}"
        )

    def stop(self) -> None:
        """Shut down gracefully (SIGTERM), as a service manager would."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """Kill the process with SIGKILL: no shutdown code runs, as in a power cut."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
