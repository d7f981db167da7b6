"""Start-up migrations: an empty database is built from the models and stamped, one at HEAD
is left alone, and neither imports alembic; the schema built is the one the migrations build."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.connect import create_engine
from bot.db.migrate import HEAD, VERSION_TABLE, current_revision, upgrade
from bot.db.tables import metadata
from tests.support.databases import POSTGRES_URL_ENV
from tests.support.scratch_schema import scratch_schema

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty databases on one backend: SQLite files, or PostgreSQL scratch schemas."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/a.db", f"sqlite+aiosqlite:///{tmp_path}/b.db"
        return
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_URL_ENV} (e.g. postgresql+psycopg://…)")
    with ExitStack() as stack:
        yield stack.enter_context(scratch_schema(base)), stack.enter_context(scratch_schema(base))


async def _with(url: str, work: Any) -> Any:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def _schema(connection: Connection) -> dict[str, Any]:
    """Everything the database says about its tables, in a form two databases can compare."""
    found = inspect(connection)
    tables: dict[str, Any] = {}
    for name in sorted(found.get_table_names()):
        tables[name] = {
            "columns": sorted(
                (c["name"], repr(c["type"]), c["nullable"], str(c.get("default")))
                for c in found.get_columns(name)
            ),
            "primary_key": found.get_pk_constraint(name),
            "foreign_keys": sorted(
                (
                    str(fk.get("name")),
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                )
                for fk in found.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (str(i["name"]), tuple(str(c) for c in i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(name)
            ),
            "unique": sorted(
                (str(u["name"]), tuple(u["column_names"]))
                for u in found.get_unique_constraints(name)
            ),
            "checks": sorted(str(c["sqltext"]) for c in found.get_check_constraints(name)),
        }
    return tables


def _differences(connection: Connection) -> list[Any]:
    """What alembic's autogenerate would change to make the database match the models."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _versions(connection: Connection) -> list[str]:
    return [row[0] for row in connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))]


# SQLite's indexes on an expression (ix_runs_duration) are not reflected: SQLAlchemy and
# alembic say so, and the next test compares them on SQLite by their SQL.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
async def test_an_empty_database_is_built_as_the_migrations_build_it(
    two_databases: tuple[str, str],
) -> None:
    built, migrated = two_databases
    for url, create_empty in ((built, True), (migrated, False)):
        engine = create_engine(url)
        try:
            await upgrade(engine, create_empty=create_empty)
        finally:
            await engine.dispose()

    assert await _with(built, _schema) == await _with(migrated, _schema)
    assert await _with(migrated, _differences) == []  # the models are what the migrations build
    assert await _with(built, _differences) == []
    assert await _with(built, _versions) == [HEAD]


async def test_the_run_duration_index_is_built_as_the_migration_builds_it(
    tmp_path: Path,
) -> None:
    built, migrated = f"sqlite+aiosqlite:///{tmp_path}/a.db", f"sqlite+aiosqlite:///{tmp_path}/b.db"
    for url, create_empty in ((built, True), (migrated, False)):
        engine = create_engine(url)
        try:
            await upgrade(engine, create_empty=create_empty)
        finally:
            await engine.dispose()

    def index_sql(connection: Connection) -> list[str]:
        query = "SELECT sql FROM sqlite_master WHERE name = 'ix_runs_duration'"
        return [" ".join(sql.split()) for (sql,) in connection.execute(text(query))]

    expected = [
        "CREATE INDEX ix_runs_duration ON runs (julianday(finished_at) - julianday(started_at))"
    ]
    assert await _with(built, index_sql) == expected
    assert await _with(migrated, index_sql) == expected


async def test_a_built_database_takes_later_migrations_and_downgrades(database_url: str) -> None:
    # alembic must treat the stamped database as its own: walk down to the first revision
    # and back up again.
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        await _alembic(engine, "downgrade", "0001")
        assert await current_revision(engine) == "0001"
        await upgrade(engine)
        assert await current_revision(engine) == HEAD
    finally:
        await engine.dispose()


async def test_a_database_behind_head_is_migrated_keeping_its_rows(database_url: str) -> None:
    engine, other = create_engine(database_url), create_engine(database_url)
    try:
        await upgrade(engine, "0003")
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO processed_events (key, seen_at) VALUES ('slack:Ev1', :at)"),
                {"at": datetime(2030, 1, 1, tzinfo=UTC)},
            )
        # Two replicas starting at once: one migrates, the other waits and finds HEAD.
        await asyncio.gather(upgrade(engine), upgrade(other))
        assert await current_revision(engine) == HEAD
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT key FROM processed_events"))).all()
        assert [key for (key,) in rows] == ["slack:Ev1"]
    finally:
        await engine.dispose()
        await other.dispose()


async def test_a_database_with_our_tables_but_no_version_is_never_stamped(
    database_url: str,
) -> None:
    # Someone built (part of) the schema by hand: only the migrations may decide what to do;
    # start-up must not create the rest and claim HEAD.
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.tables["processed_events"].create)
        with pytest.raises(DBAPIError, match=r"(?i)already exists"):
            await upgrade(engine)
        assert await current_revision(engine) is None
    finally:
        await engine.dispose()


async def _alembic(engine: AsyncEngine, command_name: str, revision: str) -> None:
    from alembic import command

    from bot.db.migrate import alembic_config

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        getattr(command, command_name)(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


_OPEN_AND_REPORT = textwrap.dedent(
    """
    import asyncio, sys
    from bot.db.store import Store

    async def main():
        store = await Store.open(sys.argv[1])
        await store.close()

    asyncio.run(main())
    print(sorted(name for name in ("alembic", "mako") if name in sys.modules))
    """
)


def _modules_after_open(url: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _OPEN_AND_REPORT, url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_start_up_imports_no_alembic_on_an_empty_database_nor_at_head(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/chatops.db"
    assert _modules_after_open(url) == "[]"  # empty: built and stamped
    assert _modules_after_open(url) == "[]"  # at HEAD: nothing to do


def test_start_up_migrates_with_alembic_when_behind(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/chatops.db"

    async def behind() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine, "0003")
        finally:
            await engine.dispose()

    asyncio.run(behind())
    assert _modules_after_open(url) == "['alembic', 'mako']"
