"""Group commit: many writers share a transaction, yet each gets its own result and fate."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.db.batching import WriteBatcher
from bot.db.engine import create_engine


async def test_writes_land_with_their_own_results_and_a_bad_one_fails_alone(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    batcher = WriteBatcher(engine)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE notes (n INTEGER PRIMARY KEY)"))

        def insert(n: int) -> Callable[[AsyncConnection], Awaitable[int]]:
            async def write(connection: AsyncConnection) -> int:
                await connection.execute(text("INSERT INTO notes (n) VALUES (:n)"), {"n": n})
                return n * 10

            return write

        writes = [batcher.submit(insert(n)) for n in range(1, 41)]
        writes.append(batcher.submit(insert(7)))  # a duplicate key: this one must fail
        results = await asyncio.gather(*writes, return_exceptions=True)

        assert results[:40] == [n * 10 for n in range(1, 41)]
        assert isinstance(results[40], Exception)
        async with engine.connect() as conn:
            stored = (await conn.execute(text("SELECT n FROM notes ORDER BY n"))).scalars().all()
        assert stored == list(range(1, 41))
    finally:
        await batcher.close()
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS notes"))
        await engine.dispose()
