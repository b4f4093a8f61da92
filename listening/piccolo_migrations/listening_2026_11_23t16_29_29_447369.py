from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar

ID = "2026-11-23T16:29:29:447369"
VERSION = "1.38.0"
DESCRIPTION = "no index on event.type: no query looks events up by type"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="listening", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="Event",
        tablename="event",
        column_name="type",
        db_column_name="type",
        params={"index": False},
        old_params={"index": True},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    return manager
