"""Bring the database to the schema this code needs; safe when several replicas start at once.

What start-up does depends on what it finds, decided under one lock (a PostgreSQL advisory
lock, SQLite's write lock), so replicas starting together take turns:

- the database is at :data:`HEAD`: nothing. The revision is read with plain SQLAlchemy;
- it is empty (none of our tables, no ``alembic_version``): the tables are created from the
  models (``metadata.create_all``) and stamped at :data:`HEAD`, alembic's documented way to
  build a fresh database; a test proves that this schema is the one the migrations build;
- anything else (behind, or built by hand): alembic's migrations.

alembic (with mako, which brings pygments) costs about 9 MiB and 250 ms to import on a slow
machine, so only the last case imports it. ``chatops db upgrade`` always migrates with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.tables import metadata

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

__all__ = [
    "HEAD",
    "VERSION_TABLE",
    "alembic_config",
    "current_revision",
    "head_revision",
    "upgrade",
]

HEAD = "0009"
"""The newest revision in migrations/versions (a test keeps this equal to alembic's head)."""

VERSION_TABLE = "alembic_version"

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
            result = await conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
            return result.scalar_one_or_none()
    except DBAPIError:
        return None  # no alembic_version table yet


async def upgrade(
    engine: AsyncEngine, revision: str = "head", *, create_empty: bool = True
) -> None:
    """Bring the schema to ``revision`` (idempotent).

    With ``create_empty`` (start-up), an empty database is built from the models and stamped
    instead of replaying every migration; without it (``chatops db upgrade``), alembic runs.
    """
    if revision == "head" and await current_revision(engine) == HEAD:
        return
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
        elif conn.dialect.name == "sqlite":
            # Take the write lock before looking at the version table, so a second process
            # starting at the same moment waits instead of creating it twice.
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
        await conn.run_sync(_upgrade_sync, revision, create_empty)


def _upgrade_sync(connection: Connection, revision: str, create_empty: bool) -> None:
    if revision == "head":
        # Under the lock: another replica may have done the work while this one waited.
        # Asking the catalog first keeps a missing table from aborting PostgreSQL's transaction.
        found = set(inspect(connection).get_table_names())
        if VERSION_TABLE in found and _versions(connection) == [HEAD]:
            return
        if create_empty and not found & {VERSION_TABLE, *metadata.tables}:
            _create_at_head(connection)
            return
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _versions(connection: Connection) -> list[str]:
    return list(connection.execute(select(_version_table().c.version_num)).scalars())


def _create_at_head(connection: Connection) -> None:
    """The schema of :data:`HEAD` in an empty database, stamped as alembic would stamp it."""
    metadata.create_all(connection, checkfirst=False)
    version = _version_table()
    version.create(connection, checkfirst=False)
    connection.execute(version.insert().values(version_num=HEAD))


def _version_table() -> Table:
    # Exactly the table alembic creates (alembic.ddl.impl.DefaultImpl.version_table_impl),
    # so that a later `chatops db upgrade` finds it as its own.
    return Table(
        VERSION_TABLE,
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
    )
