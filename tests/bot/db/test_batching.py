"""Group commit: many writers share a transaction, yet each gets its own result and fate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest_asyncio
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.db.batching import Claim, CompareAndSet, InsertReturning, WriteBatcher
from bot.db.connect import create_engine


@pytest_asyncio.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database of the test's own (a fresh SQLite file or PostgreSQL schema)."""
    opened = create_engine(database_url)
    yield opened
    await opened.dispose()


@pytest_asyncio.fixture
async def batcher(engine: AsyncEngine) -> AsyncIterator[WriteBatcher]:
    writes = WriteBatcher(engine)
    yield writes
    await writes.close()


async def test_writes_land_with_their_own_results_and_a_bad_one_fails_alone(
    engine: AsyncEngine, batcher: WriteBatcher
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE notes (n INTEGER PRIMARY KEY)"))

    def note(n: int) -> Callable[[AsyncConnection], Awaitable[int]]:
        async def write(connection: AsyncConnection) -> int:
            await connection.execute(text("INSERT INTO notes (n) VALUES (:n)"), {"n": n})
            return n * 10

        return write

    writes = [batcher.submit(note(n)) for n in range(1, 41)]
    writes.append(batcher.submit(note(7)))  # a duplicate key: this one must fail
    results = await asyncio.gather(*writes, return_exceptions=True)

    assert results[:40] == [n * 10 for n in range(1, 41)]
    assert isinstance(results[40], Exception)
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT n FROM notes ORDER BY n"))).scalars().all()
    assert stored == list(range(1, 41))


async def test_compare_and_sets_in_one_batch_each_win_or_lose_as_if_run_one_by_one(
    engine: AsyncEngine, batcher: WriteBatcher
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE lights (id INTEGER PRIMARY KEY, state TEXT, since TEXT)")
        )
        await conn.execute(text("CREATE TABLE switched (id INTEGER)"))
        await conn.execute(
            text("INSERT INTO lights (id, state) VALUES (:id, :state)"),
            [{"id": n, "state": "off" if n <= 6 else "broken"} for n in range(1, 9)],
        )
    switched = text("INSERT INTO switched (id) VALUES (:id)")
    switch_on = text(
        "UPDATE lights SET state = 'on', since = :at WHERE id IN :ids AND state = 'off'"
        " RETURNING id, state, since"
    ).bindparams(bindparam("ids", expanding=True))

    def turn_on(light: int, at: str) -> CompareAndSet:
        return CompareAndSet(switch_on, light, stamp=("at", at), then=((switched, {"id": light}),))

    # Lights 1-6 are off, 7-8 broken; light 3 is switched twice in the same batch.
    asked = [(1, "t1"), (2, "t4"), (3, "t2"), (3, "t3"), (7, "t1"), (9, "t1")]
    rows = await asyncio.gather(*(batcher.compare_and_set(turn_on(*a)) for a in asked))

    won = [None if row is None else (row.id, row.state, row.since) for row in rows]
    # Each light is stamped with the latest time asked among those switched together.
    assert won == [(1, "on", "t4"), (2, "on", "t4"), (3, "on", "t4"), None, None, None]
    async with engine.connect() as conn:
        audited = (await conn.execute(text("SELECT id FROM switched ORDER BY id"))).all()
        states = dict((await conn.execute(text("SELECT id, state FROM lights"))).all())
    assert [row.id for row in audited] == [1, 2, 3]  # once per light that changed
    assert [states[n] for n in range(1, 9)] == ["on"] * 3 + ["off"] * 3 + ["broken"] * 2


async def test_inserts_in_one_batch_each_get_their_own_row_and_a_bad_one_fails_alone(
    engine: AsyncEngine, batcher: WriteBatcher
) -> None:
    metadata = MetaData()
    tickets = Table(
        "tickets",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("title", String, unique=True),
    )
    notes = Table("ticket_notes", metadata, Column("ticket", Integer), Column("note", String))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    open_ticket = insert(tickets).returning(
        tickets.c.id, tickets.c.title, sort_by_parameter_order=True
    )

    def filed(title: str) -> InsertReturning:
        return InsertReturning(
            open_ticket,
            {"title": title},
            lambda row: [(insert(notes), {"ticket": row.id, "note": f"opened {row.title}"})],
        )

    titles = [f"disk full on db-{n}" for n in range(30)] + ["disk full on db-7"]
    rows = await asyncio.gather(*(batcher.insert(filed(t)) for t in titles), return_exceptions=True)

    assert [row.title for row in rows[:30]] == titles[:30]  # each caller its own row
    assert isinstance(rows[30], Exception)  # the duplicate title, alone
    async with engine.connect() as conn:
        stored = dict((await conn.execute(select(tickets.c.id, tickets.c.title))).all())
        written = (await conn.execute(select(notes.c.ticket, notes.c.note))).all()
    assert stored == {row.id: row.title for row in rows[:30]}
    assert sorted(written) == sorted((row.id, f"opened {row.title}") for row in rows[:30])


async def test_many_inserts_in_one_batch_each_get_their_own_row(
    engine: AsyncEngine, batcher: WriteBatcher
) -> None:
    """All land together (on SQLite as one multi-row INSERT, its rows matched to their
    callers by key), and each caller still gets the row it asked for."""
    metadata = MetaData()
    tickets = Table(
        "tickets",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("title", String),
    )
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    open_ticket = insert(tickets).returning(
        tickets.c.title, tickets.c.id, sort_by_parameter_order=True
    )
    titles = [f"latency spike {n}" for n in range(40)]
    rows = await asyncio.gather(
        *(batcher.insert(InsertReturning(open_ticket, {"title": t})) for t in titles)
    )
    assert [row.title for row in rows] == titles
    async with engine.connect() as conn:
        stored = dict((await conn.execute(select(tickets.c.id, tickets.c.title))).all())
    assert stored == {row.id: row.title for row in rows}


async def test_claims_in_one_batch_are_new_once_per_key_and_a_bad_one_fails_alone(
    engine: AsyncEngine, batcher: WriteBatcher
) -> None:
    metadata = MetaData()
    seen = Table(
        "seen",
        metadata,
        Column("key", String, primary_key=True),
        Column("by", String, nullable=False),
    )
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(insert(seen), [{"key": "k0", "by": "earlier"}])
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    claim = (
        dialect.insert(seen).on_conflict_do_nothing(index_elements=["key"]).returning(seen.c.key)
    )

    def seen_by(key: str, by: str | None) -> Claim:
        return Claim(claim, key, {"key": key, "by": by})

    # k0 was claimed before; k1-k4 are each claimed three times; k5's row is bad (no "by").
    asked = [(f"k{n % 5}", f"caller {n}") for n in range(15)] + [("k5", None)]
    answers = await asyncio.gather(
        *(batcher.claim(seen_by(*a)) for a in asked), return_exceptions=True
    )

    # The first claim of each new key wins, as if they had run one after another.
    assert answers[:15] == [False] + [True] * 4 + [False] * 10
    assert isinstance(answers[15], Exception)
    async with engine.connect() as conn:
        stored = dict((await conn.execute(select(seen.c.key, seen.c.by))).all())
    assert stored == {"k0": "earlier"} | {f"k{n}": f"caller {n}" for n in range(1, 5)}
