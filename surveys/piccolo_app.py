"""The Piccolo app of the domain tables."""

from pathlib import Path

from piccolo.conf.apps import AppConfig, table_finder

HERE = Path(__file__).parent

APP_CONFIG = AppConfig(
    app_name="surveys",
    migrations_folder_path=str(HERE / "piccolo_migrations"),
    table_classes=table_finder(modules=["surveys.tables"], exclude_imported=True),
    migration_dependencies=[],
    commands=[],
)
