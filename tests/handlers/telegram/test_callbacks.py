"""Button presses the bot must not act on, and updates it must act on only once."""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from bot.lifecycle import RunStatus
from tests.handlers.telegram.conftest import (
    CHAT,
    CONFIG,
    OTHER_CHAT,
    TelegramBot,
    running_telegram_bot,
)
from tests.support.clock import FastClock
from tests.support.fake_telegram import ALICE, BOB, FakeMessage, FakeTelegram
from tests.support.stub_server import StubServer


async def test_a_press_in_a_chat_not_served_is_answered_with_an_alert_and_does_nothing(
    telegram: TelegramBot, stub_server: StubServer
) -> None:
    await telegram.command("/playbook clear-cache")
    card = telegram.card(1)
    # The same button, as if it were on a message in another group.
    elsewhere = FakeMessage(OTHER_CHAT, card.id, card.html, card.text, list(card.buttons))
    update = telegram.fake.callback_update(elsewhere, dict(card.buttons)["Run"], user=ALICE)
    await telegram.deliver(update)

    query = update["callback_query"]["id"]
    assert telegram.answer(query) == {
        "callback_query_id": query,
        "text": "I don't serve this chat, so that button does nothing here.",
        "show_alert": True,
    }
    run = await telegram.deps.store.get_run(1)
    assert run is not None and run.status is RunStatus.PENDING
    assert telegram.fake.messages(OTHER_CHAT) == []
    assert stub_server.requests == []


async def test_a_tampered_key_is_refused_with_an_alert_and_does_nothing(
    telegram: TelegramBot, stub_server: StubServer
) -> None:
    await telegram.command("/playbook clear-cache")
    key = dict(telegram.card(1).buttons)["Run"]
    tampered = ("B" if key[0] == "A" else "A") + key[1:]
    refused = [
        await telegram.press("Run", user=ALICE, data=tampered),
        await telegram.press("Run", user=ALICE, data="run:1"),  # not even a key
        await telegram.press("Run", user=ALICE, data='{"action":"run","run":1}'),
    ]
    texts = {telegram.answer(query)["text"] for query in refused}
    assert texts == {
        "That button is not one of mine, or no longer works, so nothing was done.",
        "That is not one of my buttons, so nothing was done.",
    }
    assert all(telegram.answer(query)["show_alert"] is True for query in refused)
    run = await telegram.deps.store.get_run(1)
    assert run is not None and run.status is RunStatus.PENDING
    assert stub_server.requests == []


async def test_a_stale_button_is_answered_with_what_happened_meanwhile(
    telegram: TelegramBot, stub_server: StubServer
) -> None:
    await telegram.command("/playbook restart-service service=api")
    # The request as it looked before the run was cancelled, still on someone's screen.
    request = dataclasses.replace(telegram.fake.find(CHAT, "Approve"))
    await telegram.press("Cancel", user=ALICE)
    assert telegram.fake.message(CHAT, request.id).buttons == []  # closed: buttons gone

    for label, verb in (("Approve", "approve"), ("Deny", "deny")):
        stale = telegram.fake.callback_update(request, dict(request.buttons)[label], user=BOB)
        await telegram.deliver(stale)
        answer = telegram.answer(stale["callback_query"]["id"])
        assert answer["text"] == f"Can't {verb} run #1: it was cancelled."
        assert answer["show_alert"] is True
    assert not [m for m in telegram.fake.messages(CHAT) if m.force_reply]  # nobody asked why
    assert stub_server.requests == []


async def test_a_redelivered_update_is_acted_on_once(
    telegram: TelegramBot, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/kb/_cache/clear", json={})
    command = telegram.fake.command_update("/playbook clear-cache index_name=kb", chat=CHAT)
    await telegram.deliver(command)
    await telegram.deliver(command)  # Telegram sends the same update_id again
    assert len([m for m in telegram.fake.messages(CHAT) if m.buttons]) == 1

    card = telegram.card(1)
    press = telegram.fake.callback_update(card, dict(card.buttons)["Run"], user=ALICE)
    await telegram.deliver(press)
    await telegram.deliver(_again(press))
    assert len(stub_server.calls("POST", "/kb/_cache/clear")) == 1
    assert len(telegram.fake.answers()) == 1  # the first answer only: no "query too old"
    assert [m.text for m in telegram.thread(1)].count("▶️ Started by alice.") == 1


async def test_an_update_redelivered_to_another_replica_is_acted_on_once(
    fake_telegram: FakeTelegram,
    tmp_path: Path,
    target_env: dict[str, str],
    clock: FastClock,
    database_url: str,
) -> None:
    # Two replicas in webhook mode share one database; Telegram retries an update it
    # thinks was lost, and the retry reaches the other replica.
    async with AsyncExitStack() as stack:
        replicas = [
            await stack.enter_async_context(
                running_telegram_bot(
                    fake_telegram,
                    tmp_path / name,
                    target_env,
                    clock,
                    webhook=True,
                    database_url=database_url,
                )
            )
            for name in ("one", "two")
        ]
        command = fake_telegram.command_update("/playbook clear-cache", chat=CHAT)
        await asyncio.gather(*(replica.deliver(command) for replica in replicas))
        cards = [m for m in fake_telegram.messages(CHAT) if m.buttons]
        assert len(cards) == 1
        assert len(await replicas[0].deps.store.list_runs(limit=10)) == 1


def _again(update: dict[str, Any]) -> dict[str, Any]:
    return {**update, "callback_query": dict(update["callback_query"])}


async def test_a_key_pressed_in_another_served_chat_than_its_own_does_nothing(
    fake_telegram: FakeTelegram,
    stub_server: StubServer,
    tmp_path: Path,
    target_env: dict[str, str],
    clock: FastClock,
) -> None:
    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "chatops.yaml").write_text(
        CONFIG.replace(f"allowed_chats: [{CHAT}]", f"allowed_chats: [{CHAT}, {OTHER_CHAT}]")
    )
    async with running_telegram_bot(fake_telegram, tmp_path / "bot", target_env, clock) as bot:
        await bot.command("/playbook clear-cache")
        card = bot.card(1)
        # A client sending the key of a button shown in one group from another group.
        elsewhere = FakeMessage(OTHER_CHAT, card.id, card.html, card.text, list(card.buttons))
        update = fake_telegram.callback_update(elsewhere, dict(card.buttons)["Run"], user=ALICE)
        await bot.deliver(update)
        answer = bot.answer(update["callback_query"]["id"])
        assert answer["text"] == "That button belongs to another chat, so nothing was done."
        run = await bot.deps.store.get_run(1)
        assert run is not None and run.status is RunStatus.PENDING
        assert stub_server.requests == []
