"""One rating per pseudonymous rater, step and round: a unique index (after the column exists)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-07T13:10:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique index self_rating (round, step, rater)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="surveys", description=DESCRIPTION)

    async def create_index():
        await engine_finder().run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS self_rating_unique_round_step_rater "
            'ON self_rating ("round", "step", "rater")'
        )

    manager.add_raw(create_index)
    return manager
