"""Database fixtures: one store suite runs on SQLite and, when configured, on PostgreSQL.

PostgreSQL runs when ``CHATOPS_TEST_POSTGRES_URL`` names a server (CI sets it); each test
gets a fresh schema of its own, selected through the connection's ``search_path``.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.db.store import Store
from tests.support.scratch_schema import scratch_schema

__all__ = [
    "POSTGRES_URL_ENV",
    "aiosqlite_workers_stopped",
    "database_url",
    "postgres_url",
    "sqlite_url",
    "store",
]

POSTGRES_URL_ENV = "CHATOPS_TEST_POSTGRES_URL"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database file in the test's own temporary directory."""
    return f"sqlite+aiosqlite:///{tmp_path}/chatops.db"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections use a fresh schema, dropped (CASCADE) after the test."""
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_URL_ENV} (e.g. postgresql+psycopg://…)")
    with scratch_schema(base) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each backend in turn: the SQLite file, then the PostgreSQL schema."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest_asyncio.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A migrated store on ``database_url``, closed after the test."""
    opened = await Store.open(database_url)
    try:
        yield opened
    finally:
        await opened.close()


async def aiosqlite_workers_stopped() -> None:
    """Let the worker thread of a connection that failed to open finish on this loop.

    aiosqlite stops that thread without awaiting it; were the loop closed first, the thread
    would report its result to a closed loop and the warning would land on a later test.
    """
    workers = [t for t in threading.enumerate() if "_connection_worker_thread" in t.name]
    for worker in workers:
        await asyncio.to_thread(worker.join, 5)
    await asyncio.sleep(0)  # run the callbacks the threads scheduled
