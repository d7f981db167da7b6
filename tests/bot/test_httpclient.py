"""The steps' HTTP client: each target origin gets its own bounded pool, so a slow target
holds up only the steps that call it."""

from __future__ import annotations

import asyncio

import httpx

from bot.outbound_http import USER_AGENT, PerOriginTransport, step_http_client
from tests.support.stub_server import StubServer


async def test_a_slow_target_holds_up_only_its_own_requests() -> None:
    with StubServer() as slow, StubServer() as fast:
        slow.route("GET", "/slow", json={"ok": True}, delay=0.5)
        fast.route("GET", "/fast", json={"ok": True})
        async with step_http_client(per_origin=2) as client:
            stuck = [asyncio.create_task(client.get(slow.url + "/slow")) for _ in range(6)]
            answer = await client.get(fast.url + "/fast")
            # The fast target answered while the slow one still holds every slot it has.
            assert answer.status_code == 200
            assert not any(task.done() for task in stuck)
            answers = await asyncio.gather(*stuck)
        assert [a.status_code for a in answers] == [200] * 6
        assert slow.most_at_once == 2
        assert len(slow.calls("GET", "/slow")) == 6
        assert slow.calls("GET", "/slow")[0].headers["user-agent"] == USER_AGENT


async def test_connections_to_a_target_are_reused() -> None:
    with StubServer() as target:
        target.route("POST", "/ping", json={"pong": True})
        async with step_http_client(per_origin=4) as client:
            for _ in range(3):
                await asyncio.gather(*(client.post(target.url + "/ping") for _ in range(4)))
        assert len(target.calls("POST", "/ping")) == 12
        assert target.most_at_once <= 4


async def test_origins_past_the_limit_retire_the_idle_ones() -> None:
    transport = PerOriginTransport(2, max_origins=2)
    servers = [StubServer().start() for _ in range(3)]
    try:
        async with httpx.AsyncClient(transport=transport) as client:
            for server in servers:
                server.route("GET", "/", json={})
                assert (await client.get(server.url + "/")).status_code == 200
                assert transport.origins <= 2
            # A retired origin is simply opened again when it is called again.
            assert (await client.get(servers[0].url + "/")).status_code == 200
    finally:
        for server in servers:
            server.stop()
    assert [len(s.requests) for s in servers] == [2, 1, 1]
