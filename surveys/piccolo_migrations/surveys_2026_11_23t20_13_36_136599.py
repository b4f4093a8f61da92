from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Timestamptz

ID = "2026-11-23T20:13:36:136599"
VERSION = "1.38.0"
DESCRIPTION = (
    "no index on customer.last_invited_at (only the hourly retention purge filters on it) "
    "nor on invitation.send_at (no query does)"
)


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="surveys", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="Customer",
        tablename="customer",
        column_name="last_invited_at",
        db_column_name="last_invited_at",
        params={"index": False},
        old_params={"index": True},
        column_class=Timestamptz,
        old_column_class=Timestamptz,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Invitation",
        tablename="invitation",
        column_name="send_at",
        db_column_name="send_at",
        params={"index": False},
        old_params={"index": True},
        column_class=Timestamptz,
        old_column_class=Timestamptz,
        schema=None,
    )

    return manager
