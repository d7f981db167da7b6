"""PostgreSQL going away under a working bot, at the network: what users see, and after.

The bot reaches its database through a TCP proxy (tests.support.tcp_proxy) that a test cuts
(every connection reset, new ones refused), blackholes (new connections never answered) and
restores. Only this bot's connections go through it; the server and everyone else's
connections to it are untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio

from bot.http import build_http_app
from bot.service import DATABASE_DOWN
from handlers.shell.testing import ConsoleBot
from tests.support.console import BotFactory
from tests.support.tcp_proxy import TcpProxy, proxy_to


@pytest_asyncio.fixture
async def proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    """A proxy in front of the test's own PostgreSQL schema (skipped without PostgreSQL)."""
    async with proxy_to(postgres_url) as started:
        yield started


@pytest.fixture
def bot_behind_proxy(
    proxy: TcpProxy, postgres_url: str, make_bot: BotFactory
) -> Callable[..., Awaitable[ConsoleBot]]:
    """Bots whose database is reached through ``proxy``. (Requested after the proxy, so the
    bots are closed before the proxy and the schema go.)"""

    async def factory(**kwargs: Any) -> ConsoleBot:
        return await make_bot(database_url=proxy.url_for(postgres_url), **kwargs)

    return factory


async def test_commands_say_the_database_is_away_during_an_outage_and_work_once_it_is_back(
    bot_behind_proxy: Callable[..., Awaitable[ConsoleBot]], proxy: TcpProxy
) -> None:
    bot = await bot_behind_proxy()
    transport = httpx.ASGITransport(app=build_http_app(bot.service))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        assert (await client.get("/readyz")).status_code == 200

        await proxy.cut()
        await bot.send("/playbook history")
        await bot.send("/playbook clear-cache")
        assert bot.private("alice") == [DATABASE_DOWN, DATABASE_DOWN]
        assert [m for m in bot.chat.messages if m.kind == "card"] == []
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["status"] == "unavailable"
        assert (await client.get("/healthz")).status_code == 200

        await proxy.restore()
        assert (await client.get("/readyz")).status_code == 200
        await bot.send("/playbook clear-cache")
        assert [m.card.run_id for m in bot.chat.messages if m.card is not None] == [1]
        await bot.send("/playbook history")
        assert "#1" in bot.private("alice")[-1]


async def test_a_command_answers_when_the_database_host_goes_silent_instead_of_hanging(
    bot_behind_proxy: Callable[..., Awaitable[ConsoleBot]], proxy: TcpProxy
) -> None:
    bot = await bot_behind_proxy()
    await bot.send("/playbook history")
    transport = httpx.ASGITransport(app=build_http_app(bot.service))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        await proxy.blackhole()  # connections are accepted, and never answered
        # Not a speed check: the guard only turns a hang into a failure.
        async with asyncio.timeout(120):
            await bot.send("/playbook history")
        assert bot.private("alice")[-1] == DATABASE_DOWN
        assert (await client.get("/readyz")).status_code == 503

        await proxy.restore()
        await bot.send("/playbook history")
        assert bot.private("alice")[-1] == "No runs yet."
