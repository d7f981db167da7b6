"""A run number outside what the ids column holds names no run: the store says so, on SQLite
and PostgreSQL alike, instead of passing the database's refusal on as an error."""

from __future__ import annotations

import pytest

from bot.chat import Actor, Place
from bot.db.ids import MAX_ID
from bot.db.store import Store

OUTSIDE = [0, -1, MAX_ID + 1, 2**63 - 1, 2**63, 10**30]


@pytest.mark.parametrize("run_id", OUTSIDE)
async def test_a_run_id_outside_the_column_is_no_run(store: Store, run_id: int) -> None:
    assert await store.get_run(run_id) is None
    assert await store.run_report(run_id) is None


async def test_the_largest_id_the_column_holds_is_looked_up(store: Store) -> None:
    run = await store.create_run(
        playbook="restart-api",
        params={},
        actor=Actor("shell", "alice", "alice"),
        place=Place("shell", "ops"),
    )

    assert await store.get_run(MAX_ID) is None  # a real query: no such run yet
    assert await store.run_report(MAX_ID) is None
    found = await store.get_run(run.id)
    assert found is not None
    assert found.id == run.id
