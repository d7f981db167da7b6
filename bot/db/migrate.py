"""Apply alembic migrations on an async engine; safe when several replicas start at once.

alembic (with mako) costs about 9 MiB and 100 ms to import, so a start-up that finds the
database already at :data:`HEAD` never imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

__all__ = ["HEAD", "alembic_config", "current_revision", "head_revision", "upgrade"]

HEAD = "0004"
"""The newest revision in migrations/versions (a test keeps this equal to alembic's head)."""

_MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: replicas take this PostgreSQL advisory lock so one migrates at a time.
_MIGRATION_LOCK = 7_312_046_511


def alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision, or None before the first migration."""
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text("SELECT version_num FROM alembic_version"))
            return result.scalar_one_or_none()
    except DBAPIError:
        return None  # no alembic_version table yet


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent)."""
    if revision == "head" and await current_revision(engine) == HEAD:
        return
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
        elif conn.dialect.name == "sqlite":
            # Take the write lock before alembic looks at its version table, so a second
            # process starting at the same moment waits instead of creating it twice.
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
        await conn.run_sync(_upgrade_sync, revision)


def _upgrade_sync(connection: Connection, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
