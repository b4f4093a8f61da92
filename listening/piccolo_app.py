"""The Piccolo app of the running system's tables."""

from pathlib import Path

from piccolo.conf.apps import AppConfig, table_finder

HERE = Path(__file__).parent

APP_CONFIG = AppConfig(
    app_name="listening",
    migrations_folder_path=str(HERE / "piccolo_migrations"),
    table_classes=table_finder(modules=["listening.tables"], exclude_imported=True),
    migration_dependencies=["surveys.piccolo_app"],
    commands=[],
)
