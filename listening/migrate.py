"""Apply the committed Piccolo migrations of every app, in dependency order."""

from __future__ import annotations

import contextlib
import io

from piccolo.apps.migrations.commands.forwards import run_forwards


async def migrate(*, quiet: bool = True) -> None:
    """Bring the database schema up to date; raise RuntimeError when a migration fails."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
        result = await run_forwards(app_name="all", migration_id="all")
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}\n{out.getvalue()}")
