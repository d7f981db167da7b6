"""The processed-events table (Events API retries, deduplicated) does not grow forever."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
