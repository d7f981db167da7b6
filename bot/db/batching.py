"""Group commit: writes from many concurrent runs share one transaction.

Each caller still waits until its own write is committed, and gets its own result, so nothing
is acknowledged before it is durable. What is shared is the cost around the statements — the
connection checkout, BEGIN and COMMIT (an fsync on SQLite), the session machinery — which is
most of a short write's cost when a thousand runs write at once.

Inserts that return their row (a new run) and compare-and-set updates of one row each (a
run's status change) are shared too: the inserts of one statement become one multi-row
``INSERT … RETURNING``, the updates of one statement and the same parameters a single
``UPDATE … WHERE id IN (…) … RETURNING``. Each caller gets its own row (for an update, if it
won), and the writes that follow from it (its audit event) join the batch's plain writes.
Claims of a key (a delivery seen for the first time) become one multi-row ``INSERT … ON
CONFLICT DO NOTHING RETURNING key``; each caller learns whether its key was new.

A batch that fails is rolled back whole and its writes are retried one transaction each, so
one bad write fails alone and the others still land.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Executable, Insert, Integer, Row, Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = [
    "Claim",
    "CompareAndSet",
    "InsertReturning",
    "Statement",
    "Write",
    "WriteBatcher",
]

T = TypeVar("T")
Write = Callable[[AsyncConnection], Awaitable[Any]]
Statement = tuple[Executable, dict[str, Any]]
"""A plain write: a statement shared by every caller (so a batch can run all its uses as one
executemany) and this caller's parameters."""


@dataclass(frozen=True, slots=True)
class CompareAndSet:
    """A conditional update of the row ``row_id``, which a batch runs in one statement with
    every other of the same ``statement`` and ``shared`` parameters.

    ``statement`` takes the ids as the expanding parameter ``ids`` and returns the rows it
    changed (with their ``id``). ``stamp`` names a time parameter that may differ between
    callers: a shared statement gets the latest of theirs, so no row is stamped earlier than
    the update that changed it was asked for. ``then`` is written, in the same transaction,
    only if this row changed.
    """

    statement: Executable
    row_id: int
    shared: tuple[tuple[str, Any], ...] = ()
    stamp: tuple[str, Any] | None = None
    then: tuple[Statement, ...] = ()

    @property
    def group(self) -> tuple[int, tuple[tuple[str, Any], ...], str | None]:
        return id(self.statement), self.shared, self.stamp[0] if self.stamp else None


@dataclass(frozen=True, slots=True)
class InsertReturning:
    """The insert of one row, which a batch runs in one statement with every other of the
    same ``statement``: an ``INSERT … RETURNING`` built with ``sort_by_parameter_order``, so
    each caller gets its own row back. ``then`` gives the writes that follow from that row
    (they need its id), made in the same transaction."""

    statement: Executable
    params: dict[str, Any]
    then: Callable[[Row[Any]], Sequence[Statement]] = lambda _row: ()


@dataclass(frozen=True, slots=True)
class Claim:
    """The insert of one row unless its ``key`` is taken, which a batch runs in one statement
    with every other of the same ``statement``: an ``INSERT … ON CONFLICT DO NOTHING
    RETURNING`` of the key column alone, ``params`` giving the row (``key`` among them, as
    stored). The caller learns whether its row went in, i.e. whether the key was new.

    Of several claims of one key in a batch only the first is made, as if they had run one
    after another; the keys go in sorted, so two replicas claiming the same keys in one
    batch each wait for the other in the same order (no deadlock on PostgreSQL), and a
    claim another transaction holds is decided when that one commits or rolls back.
    """

    statement: Executable
    key: str
    params: dict[str, Any]


_Write = Write | Sequence[Statement] | CompareAndSet | InsertReturning | Claim


@dataclass
class _Pending:
    write: _Write
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

    async def compare_and_set(self, update: CompareAndSet) -> Row[Any] | None:
        """Run ``update`` in the next shared transaction; the changed row once committed, or
        None if the row did not match (another change won)."""
        row: Row[Any] | None = await self._enqueue(update)
        return row

    async def insert(self, insert: InsertReturning) -> Row[Any]:
        """Run ``insert`` in the next shared transaction; the inserted row once committed."""
        row: Row[Any] = await self._enqueue(insert)
        return row

    async def claim(self, claim: Claim) -> bool:
        """Run ``claim`` in the next shared transaction; once committed, True if its key
        was new (its row went in), False if the key was taken before."""
        new: bool = await self._enqueue(claim)
        return new

    async def _enqueue(self, write: _Write) -> Any:
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
        # Plain writes first, each statement once for the whole batch; then inserts and
        # compare-and-sets, one statement per group, and the plain writes that follow from
        # their rows; then callables. Reordering within a batch is safe: a caller waits for
        # each write before its next, so no two writes of one run (or of one caller) are
        # ever in the same batch.
        results: list[Any] = [None] * len(batch)
        plain: list[Statement] = []
        inserts: dict[int, list[tuple[int, InsertReturning]]] = {}
        updates: dict[Any, list[tuple[int, CompareAndSet]]] = {}
        claims: dict[int, list[tuple[int, Claim]]] = {}
        for index, pending in enumerate(batch):
            write = pending.write
            if isinstance(write, InsertReturning):
                inserts.setdefault(id(write.statement), []).append((index, write))
            elif isinstance(write, CompareAndSet):
                updates.setdefault(write.group, []).append((index, write))
            elif isinstance(write, Claim):
                claims.setdefault(id(write.statement), []).append((index, write))
            elif not callable(write):
                plain.extend(write)
        async with self._engine.begin() as connection:
            await _execute_grouped(connection, plain)
            for claimed in claims.values():
                new = await _claim(connection, [claim for _, claim in claimed])
                for (index, _), made in zip(claimed, new, strict=True):
                    results[index] = made
            followers: list[Statement] = []
            for new_rows in inserts.values():
                rows = await _insert(connection, [insert for _, insert in new_rows])
                for (index, insert), row in zip(new_rows, rows, strict=True):
                    results[index] = row
                    followers.extend(insert.then(row))
            for members in updates.values():
                changed = await _compare_and_set(connection, [update for _, update in members])
                for (index, update), won in zip(members, changed, strict=True):
                    results[index] = won
                    if won is not None:
                        followers.extend(update.then)
            await _execute_grouped(connection, followers)
            for index, pending in enumerate(batch):
                if callable(pending.write):
                    results[index] = await pending.write(connection)
        return results

    async def _one(self, pending: _Pending) -> None:
        result: Any
        try:
            async with self._engine.begin() as connection:
                write = pending.write
                if isinstance(write, InsertReturning):
                    (result,) = await _insert(connection, [write])
                    await _execute_grouped(connection, write.then(result))
                elif isinstance(write, CompareAndSet):
                    (result,) = await _compare_and_set(connection, [write])
                    if result is not None:
                        await _execute_grouped(connection, write.then)
                elif isinstance(write, Claim):
                    (result,) = await _claim(connection, [write])
                elif callable(write):
                    result = await write(connection)
                else:
                    result = None
                    await _execute_grouped(connection, write)
        except Exception as exc:
            if not pending.done.done():
                pending.done.set_exception(exc)
        else:
            if not pending.done.done():
                pending.done.set_result(result)


async def _execute_grouped(connection: AsyncConnection, statements: Sequence[Statement]) -> None:
    """Every use of one statement as a single executemany, in order of first use."""
    grouped: dict[int, tuple[Executable, list[dict[str, Any]]]] = {}
    for statement, params in statements:
        grouped.setdefault(id(statement), (statement, []))[1].append(params)
    for statement, params_list in grouped.values():
        await connection.execute(statement, params_list)


async def _insert(
    connection: AsyncConnection, inserts: Sequence[InsertReturning]
) -> Sequence[Row[Any]]:
    """One statement for ``inserts`` (all of one statement): their rows, in their order."""
    statement = inserts[0].statement
    params = [i.params for i in inserts]
    sqlite = connection.dialect.name == "sqlite" and len(params) > 1
    unordered = _in_key_order(statement) if sqlite else None
    if unordered is None or any(unordered[1] in p for p in params):
        return (await connection.execute(statement, params)).all()
    # SQLAlchemy cannot tell the order of SQLite's RETURNING rows, so to give them in the
    # order of their parameters it inserts one row at a time: a round trip to the database
    # thread each. But SQLite numbers the rows of a multi-row INSERT in the order of their
    # VALUES (each new key above the largest so far), and the statements of one executemany
    # run in order within this one transaction: sorted by their key, the rows are in the
    # order of their parameters.
    in_any_order, key = unordered
    rows = (await connection.execute(in_any_order, params)).all()
    return sorted(rows, key=lambda row: int(row._mapping[key]))


@functools.lru_cache(maxsize=64)
def _in_key_order(statement: Executable) -> tuple[Executable, str] | None:
    """For an INSERT … RETURNING into a table keyed by one integer column it returns: the
    same INSERT without asking for its rows in parameter order, and the key's name."""
    if not isinstance(statement, Insert) or not isinstance(statement.table, Table):
        return None
    keys = list(statement.table.primary_key.columns)
    if len(keys) != 1 or not isinstance(keys[0].type, Integer):
        return None
    returned = [d["expr"] for d in statement.returning_column_descriptions]
    if not any(getattr(column, "name", None) == keys[0].name for column in returned):
        return None
    return insert(statement.table).returning(*returned), keys[0].name


async def _compare_and_set(
    connection: AsyncConnection, updates: Sequence[CompareAndSet]
) -> list[Row[Any] | None]:
    """One statement for ``updates`` (all of one group): each one's changed row, or None. Of
    several updates of one row, only the first wins, as if they had run one after another."""
    first = updates[0]
    params: dict[str, Any] = dict(first.shared)
    if first.stamp is not None:
        params[first.stamp[0]] = max(update.stamp[1] for update in updates if update.stamp)
    params["ids"] = sorted({update.row_id for update in updates})
    changed = {row.id: row for row in await connection.execute(first.statement, params)}
    return [changed.pop(update.row_id, None) for update in updates]


async def _claim(connection: AsyncConnection, claims: Sequence[Claim]) -> list[bool]:
    """One statement for ``claims`` (all of one statement): whether each one's key was new.
    A key claimed twice in ``claims`` is new at most for the first."""
    first: dict[str, int] = {}
    for index, claim in enumerate(claims):
        first.setdefault(claim.key, index)
    rows = [claims[index].params for _, index in sorted(first.items())]
    new = {row[0] for row in await connection.execute(claims[0].statement, rows)}
    return [first[c.key] == index and c.key in new for index, c in enumerate(claims)]
