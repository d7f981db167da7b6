"""``chatops run`` with Telegram on: beside Slack in one process, and refusing to start with
settings or a token that cannot work."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from app.assembly import assemble
from bot.dependencies import Dependencies, open_dependencies
from playbooks.errors import ChatOpsError
from tests.handlers.slack.conftest import SIGNING_SECRET, SlackBot
from tests.handlers.telegram.conftest import CHAT, TOPIC, telegram_settings
from tests.support.clock import FastClock
from tests.support.fake_slack import FakeSlack
from tests.support.fake_telegram import ALICE, FakeTelegram


@pytest_asyncio.fixture
async def loop_errors() -> AsyncIterator[list[str]]:
    """What the event loop's exception handler reports (e.g. "Unclosed client session")."""
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(str(context.get("message"))))
    yield seen
    loop.set_exception_handler(previous)


async def wait_for(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_one_process_serves_slack_and_telegram_each_in_its_own_chats(
    fake_slack: FakeSlack,
    fake_telegram: FakeTelegram,
    tmp_path: Path,
    target_env: dict[str, str],
    clock: FastClock,
) -> None:
    fake_telegram.add_chat(CHAT, forum=True, topics=(TOPIC,))
    settings = telegram_settings(
        tmp_path,
        fake_telegram,
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.api_url,
    )
    deps = await open_dependencies(settings, environ=target_env, clock=clock)
    assembly = await assemble(settings, deps)
    try:
        assert sorted(assembly.service.chats) == ["slack", "telegram"]
        transport = httpx.ASGITransport(app=assembly.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            # Only the request helpers are used: the assembly owns the surface.
            slack = SlackBot(deps, assembly.service, None, client, fake_slack)
            response = await slack.post(*slack.command_request("clear-cache"))
            assert response.status_code == 200
            fake_telegram.command("/playbook refresh-synonyms", chat=CHAT, thread=TOPIC)

            await wait_for(lambda: fake_slack.of("chat.postMessage"))
            await wait_for(lambda: fake_telegram.messages(CHAT))
            [slack_card] = fake_slack.of("chat.postMessage")
            assert "Clear Elasticsearch cache · run #1" in str(slack_card.args["blocks"])
            [telegram_card] = fake_telegram.messages(CHAT)
            assert "Refresh Elasticsearch synonyms · run #2" in telegram_card.text
            assert telegram_card.thread == TOPIC

            # A press on Telegram moves run #2 on Telegram only.
            press = fake_telegram.callback_update(
                telegram_card, dict(telegram_card.buttons)["Cancel"], user=ALICE
            )
            fake_telegram.push(press)
            card_id = telegram_card.id
            await wait_for(lambda: "Cancelled" in fake_telegram.message(CHAT, card_id).text)
            assert len(fake_slack.of("chat.postMessage")) == 1
            assert not fake_slack.of("chat.update")
            assert (await client.get("/healthz")).status_code == 200
        runs = {run.id: (run.surface, run.status.value) for run in await deps.store.list_runs()}
        assert runs == {1: ("slack", "pending"), 2: ("telegram", "cancelled")}
    finally:
        await assembly.close()
        await deps.close()


@pytest_asyncio.fixture
async def deps(
    fake_telegram: FakeTelegram, tmp_path: Path, target_env: dict[str, str], clock: FastClock
) -> AsyncIterator[Dependencies]:
    opened = await open_dependencies(
        telegram_settings(tmp_path, fake_telegram), environ=target_env, clock=clock
    )
    yield opened
    await opened.close()


async def test_a_token_telegram_refuses_stops_start_up_with_the_reason_never_the_token(
    fake_telegram: FakeTelegram, tmp_path: Path, deps: Dependencies, loop_errors: list[str]
) -> None:
    settings = telegram_settings(tmp_path, fake_telegram, TELEGRAM_BOT_TOKEN="123:not-the-token")
    with pytest.raises(ChatOpsError) as refused:
        await assemble(settings, deps)
    assert refused.value.reason == "Telegram refused TELEGRAM_BOT_TOKEN (Unauthorized)."
    assert [call.method for call in fake_telegram.calls] == ["getMe"]
    gc.collect()
    await asyncio.sleep(0)
    assert loop_errors == []  # everything it opened was closed


async def test_webhook_mode_without_a_secret_opens_nothing(
    fake_telegram: FakeTelegram, tmp_path: Path, deps: Dependencies
) -> None:
    settings = telegram_settings(
        tmp_path, fake_telegram, TELEGRAM_WEBHOOK_URL="https://chatops.example.com/telegram/webhook"
    )
    with pytest.raises(ChatOpsError, match="Telegram webhook mode needs TELEGRAM_WEBHOOK_SECRET"):
        await assemble(settings, deps)
    assert fake_telegram.calls == []


async def test_a_webhook_url_telegram_refuses_stops_start_up_with_its_reason(
    fake_telegram: FakeTelegram, tmp_path: Path, deps: Dependencies
) -> None:
    settings = telegram_settings(
        tmp_path,
        fake_telegram,
        TELEGRAM_WEBHOOK_URL="http://chatops.example.com/telegram/webhook",
        TELEGRAM_WEBHOOK_SECRET="s3cret",
    )
    with pytest.raises(ChatOpsError) as refused:
        await assemble(settings, deps)
    assert refused.value.reason == (
        "Telegram refused TELEGRAM_WEBHOOK_URL "
        "(Bad webhook: an https url must be provided for webhook)."
    )


async def test_telegram_unreachable_at_start_up_is_waited_for_in_the_background(
    fake_telegram: FakeTelegram, tmp_path: Path, deps: Dependencies
) -> None:
    fake_telegram.add_chat(CHAT, forum=True, topics=(TOPIC,))
    fake_telegram.down()
    assembly = await assemble(telegram_settings(tmp_path, fake_telegram), deps)
    try:
        transport = httpx.ASGITransport(app=assembly.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            assert (await client.get("/healthz")).status_code == 200  # serving meanwhile
        fake_telegram.up()
        fake_telegram.command("/playbook clear-cache", chat=CHAT, thread=TOPIC)
        await wait_for(lambda: fake_telegram.messages(CHAT))
        assert "Clear Elasticsearch cache · run #1" in fake_telegram.messages(CHAT)[0].text
    finally:
        await assembly.close()
