"""Fixtures for whole flows: a bot on a fresh SQLite store, driven through the console."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.settings import Settings
from handlers.shell.testing import ConsoleBot
from tests.support.clock import FastClock
from tests.support.stub_server import StubServer

__all__ = ["BotFactory", "bot", "clock", "make_bot", "target_env"]

BotFactory = Callable[..., Awaitable[ConsoleBot]]


@pytest.fixture
def clock() -> FastClock:
    return FastClock()


@pytest.fixture
def target_env(stub_server: StubServer, tmp_path: Path) -> dict[str, str]:
    """Environment pointing every playbook target at the stub server."""
    return {
        "ES_URL": stub_server.url,
        "PROMETHEUS_URL": stub_server.url,
        "JAEGER_URL": stub_server.url,
        "API_URL": stub_server.url,
        "GRAFANA_URL": "https://grafana.example.com",
        "APP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/app.db",
    }


@pytest_asyncio.fixture
async def make_bot(
    tmp_path: Path, target_env: dict[str, str], clock: FastClock
) -> AsyncIterator[BotFactory]:
    """Build bots on one database: ``await make_bot(config="...yaml...", env={...})``."""
    opened: list[ConsoleBot] = []

    async def factory(
        *,
        config: str | None = None,
        playbooks: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        database_url: str | None = None,
        start: bool = True,
        **settings: Any,
    ) -> ConsoleBot:
        values: dict[str, Any] = {
            "DATABASE_URL": database_url or f"sqlite+aiosqlite:///{tmp_path}/chatops.db"
        }
        if config is not None:
            path = tmp_path / "chatops.yaml"
            path.write_text(config)
            values["CHATOPS_CONFIG"] = str(path)
        if playbooks:
            folder = tmp_path / "playbooks"
            folder.mkdir(exist_ok=True)
            for name, text in playbooks.items():
                (folder / f"{name}.yaml").write_text(text)
            values["CHATOPS_PLAYBOOK_DIRS"] = str(folder)
        values |= settings
        bot = await ConsoleBot.open(
            Settings(**values), environ={**target_env, **(env or {})}, clock=clock, start=start
        )
        opened.append(bot)
        return bot

    yield factory
    for bot in reversed(opened):
        await bot.close()


@pytest_asyncio.fixture
async def bot(make_bot: BotFactory) -> ConsoleBot:
    """A bot with the built-in catalog and default config."""
    return await make_bot()
