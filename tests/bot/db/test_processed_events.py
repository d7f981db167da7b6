"""Deliveries count once (a retry, here or on another replica, is recognised), a burst of
them costs one statement, and the processed-events table does not grow forever."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bot.db.store import Store
from bot.dependencies import open_dependencies
from bot.service import ChatOpsService
from bot.settings import Settings
from tests.support.clock import FastClock

START = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


async def test_deliveries_seen_before_a_time_are_forgotten(database_url: str) -> None:
    clock = FastClock(START)
    store = await Store.open(database_url, clock=clock.now)
    try:
        assert await store.first_delivery("slack:event:Ev1")
        clock.advance(3600)
        assert await store.first_delivery("slack:event:Ev2")
        clock.advance(3600)

        assert await store.forget_deliveries(seen_before=START) == 0
        assert await store.forget_deliveries(seen_before=START + timedelta(minutes=30)) == 1
        assert not await store.first_delivery("slack:event:Ev2")  # still remembered
        assert await store.first_delivery("slack:event:Ev1")  # forgotten: new again
        assert await store.forget_deliveries(seen_before=clock.now()) == 1  # only Ev2
        assert await store.forget_deliveries(seen_before=clock.now() + timedelta(1)) == 1
    finally:
        await store.close()


async def test_the_service_forgets_day_old_deliveries_at_most_hourly(tmp_path: Path) -> None:
    config = tmp_path / "chatops.yaml"
    config.write_text("engine: {heartbeat_every: 10ms}\n")
    settings = Settings(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/chatops.db", CHATOPS_CONFIG=str(config)
    )
    clock = FastClock(START)
    deps = await open_dependencies(settings, environ={}, clock=clock)
    service = ChatOpsService(deps)
    try:
        assert await deps.store.first_delivery("old")
        clock.advance(timedelta(days=1, minutes=1).total_seconds())
        assert await deps.store.first_delivery("recent")
        await service.start()
        async with asyncio.timeout(10):
            while not await deps.store.first_delivery("old"):  # True once it was forgotten
                await asyncio.sleep(0.01)
        assert not await deps.store.first_delivery("recent")

        clock.advance(timedelta(days=2).total_seconds())
        await asyncio.sleep(0.2)  # many heartbeats, but within the hour since the last pass
        assert not await deps.store.first_delivery("recent")
    finally:
        await service.shutdown()
        await deps.close()


async def test_a_burst_of_deliveries_counts_each_key_once_in_one_statement(
    database_url: str,
) -> None:
    store = await Store.open(database_url)
    inserts: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "processed_events" in statement:
            inserts.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", seen)
    try:
        keys = [f"telegram:1:update:{n % 10}" for n in range(50)]
        answers = await asyncio.gather(*(store.first_delivery(key) for key in keys))

        assert sum(answers) == 10
        assert {key for key, first in zip(keys, answers, strict=True) if first} == set(keys)
        # The burst shares the group commit: not a transaction per delivery.
        assert 1 <= len(inserts) < 10
        retries = await asyncio.gather(*(store.first_delivery(key) for key in keys[:10]))
        assert not any(retries)
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", seen)
        await store.close()


async def test_two_replicas_on_one_database_agree_on_which_delivery_came_first(
    database_url: str,
) -> None:
    one = await Store.open(database_url)
    other = await Store.open(database_url, migrate=False)
    try:
        keys = [f"slack:event:Ev{n % 10}" for n in range(50)]
        answers = await asyncio.gather(
            *(one.first_delivery(key) for key in keys),
            *(other.first_delivery(key) for key in reversed(keys)),
        )

        assert sum(answers) == 10  # one replica acts on each delivery, the other skips it
        firsts = [key for key, first in zip(keys + keys[::-1], answers, strict=True) if first]
        assert sorted(firsts) == sorted(set(keys))
        assert not await one.first_delivery("slack:event:Ev3")
        assert not await other.first_delivery("slack:event:Ev7")
        assert await other.first_delivery("slack:event:Ev10")
        assert not await one.first_delivery("slack:event:Ev10")
    finally:
        await other.close()
        await one.close()
