"""Composite unique keys as unique indexes: SQLite cannot add constraints to a table."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T12:56:24:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique indexes"

STATEMENTS = (
    'CREATE UNIQUE INDEX IF NOT EXISTS survey_unique_step_version ON survey ("step", "version")',
    'CREATE UNIQUE INDEX IF NOT EXISTS self_rating_score_unique_rating_question ON self_rating_score ("rating", "question")',
    'CREATE UNIQUE INDEX IF NOT EXISTS round_department_unique_round_department ON round_department ("round", "department")',
    'CREATE UNIQUE INDEX IF NOT EXISTS tally_unique_cell ON tally ("question", "source", "round_id", "day", "level")',
    'CREATE UNIQUE INDEX IF NOT EXISTS question_unique_survey_key ON question ("survey", "key")',
    'CREATE UNIQUE INDEX IF NOT EXISTS response_segment_unique_response_name ON response_segment ("response", "name")',
    'CREATE UNIQUE INDEX IF NOT EXISTS self_rating_unique_round_step_employee ON self_rating ("round", "step", "employee")',
    'CREATE UNIQUE INDEX IF NOT EXISTS round_invitee_unique_round_user ON round_invitee ("round", "user")',
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="surveys", description=DESCRIPTION)

    async def create_indexes():
        engine = engine_finder()
        for sql in STATEMENTS:
            await engine.run_ddl(sql)

    manager.add_raw(create_indexes)
    return manager
