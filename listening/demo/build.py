"""Build the demo organisation from the example journey file, with logins for each role."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from surveys.accounts import create_user
from surveys.tables import User

from listening.journeys import load_journey_file
from listening.migrate import migrate

JOURNEY_FILE = Path(__file__).with_name("journey.toml")
DEMO_PASSWORD = "listening-demo"

Progress = Callable[[str, int, int], None]

LOGINS = {
    "admin": ("admin@demo.example", "Avery Admin", ["admin"], None),
    "executive": ("exec@demo.example", "Emery Executive", ["executive"], None),
    "employee": ("support@demo.example", "Sam Support", ["employee"], "support"),
}


async def build_demo(
    *, seed: int = 7, size: str = "small", progress: Progress | None = None
) -> dict[str, str]:
    """Create (or reuse) the demo organisation; returns role -> login email."""
    await migrate()
    await load_journey_file(JOURNEY_FILE)
    for email, name, roles, department in LOGINS.values():
        if not await User.exists().where(User.email == email):
            await create_user(
                email=email,
                name=name,
                roles=roles,
                password=DEMO_PASSWORD,
                department_key=department,
            )
    if progress:
        progress("organisation", 1, 1)
    return {role: spec[0] for role, spec in LOGINS.items()}
