"""The app as `listening serve` runs it in each server process."""

from __future__ import annotations

import os

from litestar import Litestar

from listening.app import create_app


def create_served_app() -> Litestar:
    """Build the served app; `serve` passes its choices through the environment."""
    return create_app(
        run_worker=os.environ.get("LISTENING_RUN_WORKER") == "1",
        listen_url=os.environ.get("LISTENING_LISTEN_URL"),
    )
