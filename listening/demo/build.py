"""Build the demo organisation from the example journey file, with logins for each role."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from listening.ingest.ingestor import close_ingestors
from listening.journeys import load_journey_file
from listening.migrate import migrate
from listening.settings import get_settings
from listening.tables import Event
from surveys.accounts import create_user
from surveys.tables import User

JOURNEY_FILE = Path(__file__).with_name("journey.toml")
DEMO_PASSWORD = "listening-demo"  # noqa: S105 - the demo's published password

Progress = Callable[[str, int, int], None]

LOGINS = {
    "admin": ("admin@demo.example", "Avery Admin", ["admin"], None),
    "executive": ("exec@demo.example", "Emery Executive", ["executive"], None),
    "employee": ("support@demo.example", "Sam Support", ["employee"], "support"),
}


async def build_demo(
    *,
    seed: int = 7,
    size: str = "small",
    months: int = 6,
    base_url: str = "http://127.0.0.1:8000",
    progress: Progress | None = None,
) -> dict[str, str]:
    """Create the demo organisation and its months of history, or reuse an existing one.

    Returns role -> login email.
    """
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
    if not await Event.exists():
        from listening.demo.simulate import simulate

        settings = get_settings()
        admin = await User.select(User.id).where(User.email == LOGINS["admin"][0]).first()
        try:
            await simulate(
                seed=seed,
                size=size,
                secret_key=settings.secret_key,
                base_url=base_url,
                password=DEMO_PASSWORD,
                admin_id=admin["id"],
                progress=progress,
                months=months,
            )
        finally:
            await close_ingestors()
    return {role: spec[0] for role, spec in LOGINS.items()}
