"""Group commit: writes from many concurrent runs share one transaction.

Each caller still waits until its own write is committed, and gets its own result, so nothing
is acknowledged before it is durable. What is shared is the cost around the statements — the
connection checkout, BEGIN and COMMIT (an fsync on SQLite), the session machinery — which is
most of a short write's cost when a thousand runs write at once.

A batch that fails is rolled back whole and its writes are retried one transaction each, so
one bad write fails alone and the others still land.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Executable
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["Statement", "Write", "WriteBatcher"]

T = TypeVar("T")
Write = Callable[[AsyncConnection], Awaitable[Any]]
Statement = tuple[Executable, dict[str, Any]]
"""A plain write: a statement shared by every caller (so a batch can run all its uses as one
executemany) and this caller's parameters."""


@dataclass
class _Pending:
    write: Write | Sequence[Statement]
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class WriteBatcher:
    def __init__(self, engine: AsyncEngine, *, max_batch: int = 256) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, write: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``write`` in the next shared transaction; return its result once committed."""
        result: T = await self._enqueue(write)
        return result

    async def execute(self, *statements: Statement) -> None:
        """Run plain writes in the next shared transaction; return once committed.

        Uses of one statement across the batch run together as a single executemany.
        """
        await self._enqueue(statements)

    async def _enqueue(self, write: Write | Sequence[Statement]) -> Any:
        if self._queue is None or self._flusher is None or self._flusher.done():
            self._queue = asyncio.Queue()
            self._flusher = asyncio.create_task(self._flush_forever(self._queue))
        pending = _Pending(write)
        await self._queue.put(pending)
        return await pending.done

    async def close(self) -> None:
        """Finish the writes already submitted, then stop."""
        if self._flusher is None or self._queue is None:
            return
        await self._queue.join()
        self._flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._flusher
        self._flusher = None

    async def _flush_forever(self, queue: asyncio.Queue[_Pending]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self._max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await self._flush(batch)
            finally:
                for _ in batch:
                    queue.task_done()

    async def _flush(self, batch: list[_Pending]) -> None:
        live = [p for p in batch if not p.done.cancelled()]
        if not live:
            return
        try:
            results = await self._in_one_transaction(live)
        except Exception as exc:
            if len(live) == 1:
                live[0].done.set_exception(exc)
                return
            # Something in the batch failed and it all rolled back: find the write that fails
            # by giving each one its own transaction; the others land as they would have.
            for pending in live:
                await self._one(pending)
            return
        for pending, result in zip(live, results, strict=True):
            if not pending.done.done():
                pending.done.set_result(result)

    async def _in_one_transaction(self, batch: list[_Pending]) -> list[Any]:
        # Plain writes first, each statement once for the whole batch. Reordering within a
        # batch is safe: a caller waits for each write before its next, so no two writes of
        # one run (or of one caller) are ever in the same batch.
        grouped: dict[int, tuple[Executable, list[dict[str, Any]]]] = {}
        for pending in batch:
            if not callable(pending.write):
                for statement, params in pending.write:
                    grouped.setdefault(id(statement), (statement, []))[1].append(params)
        async with self._engine.begin() as connection:
            for statement, params_list in grouped.values():
                await connection.execute(statement, params_list)
            return [
                await pending.write(connection) if callable(pending.write) else None
                for pending in batch
            ]

    async def _one(self, pending: _Pending) -> None:
        try:
            async with self._engine.begin() as connection:
                write = pending.write
                if callable(write):
                    result = await write(connection)
                else:
                    result = None
                    for statement, params in write:
                        await connection.execute(statement, params)
        except Exception as exc:
            if not pending.done.done():
                pending.done.set_exception(exc)
        else:
            if not pending.done.done():
                pending.done.set_result(result)
