"""Migration 0005_image_import on a database that already holds images."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from shoal.control.db import MIGRATIONS, Database


def upgrade_to(database: Database, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_images_deleted_before_the_migration_stay_hidden(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade_to(database, "0004_metadata_service_only")
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO images (name, distribution, type, public, status, "
                "description, path, min_disk_size, size_gigabytes, error_message, "
                "metadata_service_only, created_at) VALUES ('old', 'Debian', "
                "'snapshot', 0, :status, '', '/x', 0, 0, '', 0, "
                "'2026-01-01 00:00:00')"
            ),
            [{"status": "deleted"}, {"status": "available"}],
        )

    upgrade_to(database, "0005_image_import")

    with database.engine.begin() as connection:
        rows = connection.execute(
            text("SELECT status, deleted_at IS NOT NULL FROM images ORDER BY id")
        ).all()
    assert rows == [("deleted", 1), ("available", 0)]
