from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt

ID = "2026-11-23T16:29:29:906994"
VERSION = "1.38.0"
DESCRIPTION = "no index on invitation.event_id: no query looks invitations up by event"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="surveys", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="Invitation",
        tablename="invitation",
        column_name="event_id",
        db_column_name="event_id",
        params={"index": False},
        old_params={"index": True},
        column_class=BigInt,
        old_column_class=BigInt,
        schema=None,
    )

    return manager
