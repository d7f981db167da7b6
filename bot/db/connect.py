"""Async engines: SQLite (WAL, one writer connection) by default, PostgreSQL via psycopg."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = ["CONNECT_TIMEOUT", "UNREACHABLE", "create_engine", "is_sqlite", "session_factory"]

CONNECT_TIMEOUT = 5
"""Seconds a new PostgreSQL connection may take (libpq's ``connect_timeout``: whole seconds)."""

UNREACHABLE: tuple[type[Exception], ...] = (SQLAlchemyError, OSError)
"""What a store call raises when the database does not answer: SQLAlchemy wraps the driver's
errors (psycopg's, sqlite3's) and its pool's timeouts in its own; a socket error or a
timeout (``TimeoutError`` is an ``OSError``) may come through as it is."""


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An engine tuned for the backend.

    SQLite allows one writer at a time; a single shared connection serialises our writes in
    process instead of failing them with "database is locked", and WAL lets other processes
    (``chatops shell`` beside ``chatops run``) read meanwhile. The database file's folder
    is made if missing, as the file itself would be.
    """
    if is_sqlite(url):
        database = make_url(url).database
        memory = database in (None, "", ":memory:")
        if database and not memory and not database.startswith("file:"):
            # SQLite creates the file, not its folder. A folder that cannot be made fails
            # here, with its reason, before any connection thread is started.
            folder = Path(database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OSError(f"cannot make its folder {folder}: {exc.strerror}") from None
        engine = create_async_engine(
            url,
            echo=echo,
            poolclass=StaticPool if memory else None,
            **({} if memory else {"pool_size": 1, "max_overflow": 0, "pool_timeout": 120}),
            connect_args={"timeout": 30},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # A database that does not answer must fail a command in seconds, not hang it: libpq
    # waits for a connection for ever unless told otherwise (a host gone silent drops our
    # packets; the kernel gives up on a connect after about two minutes, and not at all on a
    # server that accepted but never answers). A URL that sets its own timeout keeps it.
    query = make_url(url).query
    connect_args = {} if "connect_timeout" in query else {"connect_timeout": CONNECT_TIMEOUT}
    return create_async_engine(
        url,
        echo=echo,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,  # a connection the outage broke is replaced, not handed out
        pool_timeout=30,
        connect_args=connect_args,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
