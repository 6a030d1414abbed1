"""Bring the database schema up to date with Alembic (run at start-up)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


# Any fixed number: the PostgreSQL advisory lock that lets one server migrate at a time.
MIGRATION_LOCK = 0x636F6D6D6F6E


def upgrade(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several workers or replicas starting together on a new database would otherwise
            # race to create the same tables; the lock is released when this transaction ends.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
