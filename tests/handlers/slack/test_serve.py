"""``chatops run``'s assembly with Slack on: over HTTP, over Socket Mode, and refusing
settings that cannot work before anything is opened."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
import pytest_asyncio

from app.assembly import assemble
from bot.dependencies import Dependencies, open_dependencies
from bot.settings import Settings
from playbooks.errors import ChatOpsError
from tests.handlers.slack.conftest import FIXTURES, SIGNING_SECRET, SlackBot, sign, write_playbooks
from tests.handlers.slack.test_socket_mode import FakeSocketModeServer
from tests.support.clock import FastClock
from tests.support.fake_slack import FakeSlack


def slack_settings(tmp_path: Path, fake: FakeSlack, **slack: str) -> Settings:
    return Settings(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/chatops.db",
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_API_URL=fake.api_url,
        **slack,
    )


@pytest_asyncio.fixture
async def deps(
    fake_slack: FakeSlack, tmp_path: Path, target_env: dict[str, str], clock: FastClock
) -> AsyncIterator[Dependencies]:
    opened = await open_dependencies(
        slack_settings(tmp_path, fake_slack), environ=target_env, clock=clock
    )
    yield opened
    await opened.close()


@pytest_asyncio.fixture
async def loop_errors() -> AsyncIterator[list[str]]:
    """What the event loop's exception handler reports (e.g. "Unclosed client session")."""
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(str(context.get("message"))))
    yield seen
    loop.set_exception_handler(previous)


async def wait_for(fake: FakeSlack, method: str) -> list[Any]:
    async with asyncio.timeout(10):
        while not fake.of(method):
            await asyncio.sleep(0.01)
    return fake.of(method)


def slash_command(text: str) -> dict[str, str]:
    form = dict(parse_qsl((FIXTURES / "slack-slash-command.form").read_text().strip()))
    return form | {"text": text}


async def test_http_mode_serves_signed_requests_at_slack_events(
    fake_slack: FakeSlack, tmp_path: Path, deps: Dependencies
) -> None:
    settings = slack_settings(tmp_path, fake_slack, SLACK_SIGNING_SECRET=SIGNING_SECRET)
    assembly = await assemble(settings, deps)
    try:
        assert [call.method for call in fake_slack.calls] == ["auth.test"]
        body = urlencode(slash_command("clear-cache index_name=kb")).encode()
        transport = httpx.ASGITransport(app=assembly.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            response = await client.post(
                "/slack/events",
                content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded", **sign(body)},
            )
            assert (response.status_code, response.text) == (200, "")
            assert (await client.get("/healthz")).status_code == 200
        [card] = await wait_for(fake_slack, "chat.postMessage")
        assert "Clear Elasticsearch cache · run #1" in str(card.args["blocks"])
    finally:
        await assembly.close()


async def test_socket_mode_starts_after_the_service_and_dispatches(
    fake_slack: FakeSlack, tmp_path: Path, deps: Dependencies
) -> None:
    socket = FakeSocketModeServer()
    await socket.start()
    fake_slack.set_answer("apps.connections.open", {"ok": True, "url": socket.url})
    settings = slack_settings(tmp_path, fake_slack, SLACK_APP_TOKEN="xapp-test-token")
    assembly = await assemble(settings, deps)
    try:
        assert [call.method for call in fake_slack.calls] == ["auth.test", "apps.connections.open"]
        assert [str(r.path) for r in assembly.app.routes if hasattr(r, "path")].count(
            "/slack/events"
        ) == 0  # no public endpoint in Socket Mode
        async with asyncio.timeout(10):
            await socket.connected.wait()
        await socket.send(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": slash_command("clear-cache index_name=kb"),
            }
        )
        async with asyncio.timeout(10):
            assert (await socket.acks.get())["envelope_id"] == "env-1"
        [card] = await wait_for(fake_slack, "chat.postMessage")
        assert card.args["channel"] == "C0INCIDENTS"
    finally:
        await assembly.close()
        await socket.stop()


async def test_slack_over_http_without_a_signing_secret_opens_nothing(
    fake_slack: FakeSlack, tmp_path: Path, deps: Dependencies, loop_errors: list[str]
) -> None:
    with pytest.raises(ChatOpsError, match="needs SLACK_SIGNING_SECRET"):
        await assemble(slack_settings(tmp_path, fake_slack), deps)
    gc.collect()
    await asyncio.sleep(0)
    assert loop_errors == []  # no "Unclosed client session"
    assert fake_slack.calls == []


async def test_a_token_slack_refuses_stops_start_up_and_closes_what_it_opened(
    fake_slack: FakeSlack, tmp_path: Path, deps: Dependencies, loop_errors: list[str]
) -> None:
    fake_slack.fail_next("auth.test", status=200, error="invalid_auth")
    settings = slack_settings(tmp_path, fake_slack, SLACK_SIGNING_SECRET=SIGNING_SECRET)
    with pytest.raises(ChatOpsError, match=r"Slack refused SLACK_BOT_TOKEN \(invalid_auth\)"):
        await assemble(settings, deps)
    gc.collect()
    await asyncio.sleep(0)
    assert loop_errors == []


SLOW = """
name: slow-restart
title: Slow restart
risk: low
steps:
  - id: restart
    action: shell
    with: {argv: [sleep, "30"]}
"""


async def test_stopping_marks_a_running_run_interrupted_on_its_card(
    fake_slack: FakeSlack, tmp_path: Path, target_env: dict[str, str], clock: FastClock
) -> None:
    folder = write_playbooks(tmp_path / "playbooks", {"slow.yaml": SLOW})
    settings = slack_settings(
        tmp_path,
        fake_slack,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        CHATOPS_PLAYBOOK_DIRS=str(folder),
    )
    deps = await open_dependencies(settings, environ=target_env, clock=clock)
    assembly = await assemble(settings, deps)
    try:
        transport = httpx.ASGITransport(app=assembly.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            # Only the request helpers are used: the assembly owns the surface.
            requests = SlackBot(deps, assembly.service, None, client, fake_slack)
            await requests.post(*requests.command_request("slow-restart"))
            await wait_for(fake_slack, "chat.postMessage")
            await requests.post(*requests.click_request("Run", 1, user="U0ALICE"))
            async with asyncio.timeout(10):
                while not any("Started by" in text for text in _thread_texts(fake_slack)):
                    await asyncio.sleep(0.01)
        await assembly.close()
        run = await deps.store.get_run(1)
        assert run is not None and run.status.value == "interrupted"
        last_edit = fake_slack.of("chat.update")[-1]
        assert "Interrupted" in str(last_edit.args["blocks"])
    finally:
        await deps.close()


def _thread_texts(fake: FakeSlack) -> list[str]:
    return [str(call.args.get("text", "")) for call in fake.of("chat.postMessage")]
