"""Socket Mode: the same listeners, reached over a WebSocket instead of POST /slack/events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest_asyncio
from aiohttp import WSMsgType, web

from bot.dependencies import open_dependencies
from bot.service import ChatOpsService
from bot.settings import Settings
from handlers.slack.app import SlackSurface
from tests.handlers.slack.conftest import FIXTURES
from tests.support.clock import FastClock
from tests.support.fake_slack import FakeSlack


class FakeSocketModeServer:
    """Slack's Socket Mode endpoint: says hello, sends envelopes, collects their acks."""

    def __init__(self) -> None:
        self.acks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.connected = asyncio.Event()
        self._socket: web.WebSocketResponse | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"ws://127.0.0.1:{port}/link"

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def send(self, envelope: dict[str, Any]) -> None:
        assert self._socket is not None
        await self._socket.send_str(json.dumps(envelope))

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._socket = socket
        await socket.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        self.connected.set()
        async for message in socket:
            if message.type is WSMsgType.TEXT:
                await self.acks.put(json.loads(message.data))
        return socket


@pytest_asyncio.fixture
async def socket_server() -> AsyncIterator[FakeSocketModeServer]:
    server = FakeSocketModeServer()
    await server.start()
    yield server
    await server.stop()


async def test_socket_mode_dispatches_commands_through_the_same_listeners(
    fake_slack: FakeSlack,
    socket_server: FakeSocketModeServer,
    tmp_path: Path,
    target_env: dict[str, str],
    clock: FastClock,
) -> None:
    fake_slack.set_answer("apps.connections.open", {"ok": True, "url": socket_server.url})
    settings = Settings(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/chatops.db",
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_APP_TOKEN="xapp-test-token",
        SLACK_API_URL=fake_slack.api_url,
    )
    deps = await open_dependencies(settings, environ=target_env, clock=clock)
    service = ChatOpsService(deps)
    surface = SlackSurface(service, settings)
    service.attach(surface.chat)
    try:
        await surface.start()
        async with asyncio.timeout(10):
            await socket_server.connected.wait()
        opened = fake_slack.of("apps.connections.open")
        assert opened[0].token == "xapp-test-token"  # the app-level token, not the bot's

        form = dict(parse_qsl((FIXTURES / "slack-slash-command.form").read_text().strip()))
        form["text"] = "clear-cache index_name=kb"
        await socket_server.send(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": form,
            }
        )
        async with asyncio.timeout(10):
            ack = await socket_server.acks.get()
        assert ack["envelope_id"] == "env-1"
        await surface.idle()

        posts = fake_slack.of("chat.postMessage")
        assert len(posts) == 1
        assert posts[0].args["channel"] == "C0INCIDENTS"
        assert "Clear Elasticsearch cache · run #1" in json.dumps(
            posts[0].args["blocks"], ensure_ascii=False
        )
    finally:
        await surface.close()
        await service.shutdown()
        await deps.close()
