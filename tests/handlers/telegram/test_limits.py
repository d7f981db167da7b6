"""Telegram's limits: 4,096 characters, flood limits (429 retry_after), paced card edits, and
an unreachable Telegram that neither fails nor stalls a run."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from bot.lifecycle import RunStatus
from tests.handlers.telegram.conftest import (
    CHAT,
    FAST,
    SECRET,
    TelegramBot,
    running_telegram_bot,
    write_playbooks,
)
from tests.support.clock import FastClock
from tests.support.fake_telegram import ALICE, MAX_TEXT, FakeTelegram, parse_html
from tests.support.stub_server import StubServer


def many_steps(steps: int, name: str = "thirty-steps") -> str:
    lines = [f"name: {name}", "title: Many small steps", "steps:"]
    for n in range(1, steps + 1):
        lines += [
            f"  - id: step{n}",
            "    action: http",
            '    with: {method: POST, url: "{{ env.API_URL }}/step"}',
        ]
    return "\n".join(lines) + "\n"


async def test_a_429_is_waited_out_for_its_retry_after_and_the_card_then_posted(
    telegram: TelegramBot,
) -> None:
    telegram.fake.fail_next("sendMessage", status=429, retry_after=1)
    await telegram.command("/playbook clear-cache")
    refused, sent = telegram.fake.of("sendMessage")
    assert refused.failed and refused.error == "Too Many Requests: retry after 1"
    assert not sent.failed
    assert sent.at - refused.at >= 1.0  # not before Telegram said it may
    assert "Clear Elasticsearch cache · run #1" in telegram.card(1).text


async def test_cards_wait_for_a_connection_while_a_slow_telegram_holds_all_of_them(
    telegram_webhook: TelegramBot,
) -> None:
    """The bot keeps a few connections to the Bot API; when Telegram is slow to answer on all
    of them, further cards wait their turn instead of failing (python-telegram-bot's own
    default gives up on a free connection after 1 s)."""
    fake, client = telegram_webhook.fake, telegram_webhook.client
    assert client is not None
    commands = FAST.api_connections + 4
    fake.hold("sendMessage")
    for _ in range(commands):
        update = fake.command_update("/playbook clear-cache", chat=CHAT)
        response = await client.post(
            "/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
        )
        assert response.status_code == 200
    await telegram_webhook.wait_until(lambda: len(fake.of("sendMessage")) == FAST.api_connections)
    await asyncio.sleep(1.5)  # Telegram still silent: longer than PTB waits by default
    assert len(fake.of("sendMessage")) == FAST.api_connections  # the rest wait for a connection
    fake.release("sendMessage")
    await telegram_webhook.settle()
    cards = [m for m in fake.messages(CHAT) if "Clear Elasticsearch cache · run #" in m.text]
    assert len(cards) == commands
    runs = [await telegram_webhook.deps.store.get_run(n) for n in range(1, commands + 1)]
    assert all(run is not None and run.status is RunStatus.PENDING for run in runs)


async def test_a_long_answer_is_split_into_messages_telegram_accepts(
    fake_telegram: FakeTelegram, tmp_path: Path, target_env: dict[str, str], clock: FastClock
) -> None:
    folder = tmp_path / "bot" / "playbooks"
    write_playbooks(
        folder,
        {
            f"p{n}.yaml": f"name: p{n:03d}\ntitle: {'A rather long title ' * 6}{n}\n"
            "steps: [{id: s, action: wait, with: {duration: 1s}}]\n"
            for n in range(80)
        },
    )
    async with running_telegram_bot(fake_telegram, tmp_path / "bot", target_env, clock) as bot:
        await bot.command("/playbook list")
        answers = bot.said()
        assert len(answers) >= 3
        assert all(len(text) <= MAX_TEXT for text in answers)
        joined = "\n".join(answers)
        assert "p000" in joined and "p079" in joined
        assert not [call for call in fake_telegram.calls if call.failed]


async def test_a_card_with_a_plan_longer_than_a_message_says_what_was_left_out(
    fake_telegram: FakeTelegram, tmp_path: Path, target_env: dict[str, str], clock: FastClock
) -> None:
    write_playbooks(tmp_path / "bot" / "playbooks", {"long.yaml": many_steps(300, "long")})
    async with running_telegram_bot(fake_telegram, tmp_path / "bot", target_env, clock) as bot:
        await bot.command("/playbook long")
        card = bot.card(1)
        assert len(card.text) <= MAX_TEXT
        assert parse_html(card.html)[1] is None
        assert "`step1`" not in card.text and "step1 " in card.text
        last = card.text.splitlines()[-1]
        assert last.startswith("… ") and last.endswith("more lines (see /playbook status 1)")
        assert [label for label, _ in card.buttons] == ["Run", "Cancel"]


async def test_a_thirty_step_run_edits_its_card_within_the_chats_budget_and_ends_shown(
    fake_telegram: FakeTelegram,
    stub_server: StubServer,
    tmp_path: Path,
    target_env: dict[str, str],
    clock: FastClock,
) -> None:
    stub_server.route("POST", "/step", json={"ok": True})
    write_playbooks(tmp_path / "bot" / "playbooks", {"thirty.yaml": many_steps(30)})
    # Two edits at once, then one a minute: the run is over long before a third.
    paced = dataclasses.replace(FAST, edit_burst=2, edits_per_minute=1)
    async with running_telegram_bot(
        fake_telegram, tmp_path / "bot", target_env, clock, limits=paced
    ) as bot:
        await bot.command("/playbook thirty-steps")
        await bot.press("Run", user=ALICE, edits=False)
        run = await bot.deps.store.get_run(1)
        assert run is not None and run.status is RunStatus.SUCCEEDED
        assert len(stub_server.calls("POST", "/step")) == 30
        assert len(fake_telegram.of("editMessageText")) <= 2
        assert len([m for m in bot.thread(1) if "succeeded" in m.text]) == 31  # every step
        card_id = bot.card(1).id
    # Closing makes the edit still waiting: the card shows how the run ended.
    card = fake_telegram.message(CHAT, card_id)
    assert card.text.splitlines()[1].startswith("Succeeded in")
    assert card.text.count("✅") == 31 and card.buttons == []
    assert len(fake_telegram.of("editMessageText")) <= 3


async def test_telegram_down_during_a_run_neither_fails_nor_stalls_it_and_the_card_catches_up(
    telegram_webhook: TelegramBot, stub_server: StubServer
) -> None:
    bot = telegram_webhook
    stub_server.route("POST", "/kb/_cache/clear", json={"ok": True})
    await bot.command("/playbook clear-cache index_name=kb")
    card = bot.card(1)
    bot.fake.down()
    update = bot.fake.callback_update(card, dict(card.buttons)["Run"], user=ALICE)
    await bot.deliver(update)  # the webhook still reaches the bot

    run = await bot.deps.store.get_run(1)
    assert run is not None and run.status is RunStatus.SUCCEEDED  # ran, and finished
    assert "Dry run ready" in bot.fake.message(CHAT, card.id).text  # Telegram saw nothing

    bot.fake.up()
    await bot.service.progress.resync_cards()  # what the heartbeat does every few seconds
    await bot.settle()
    card = bot.fake.message(CHAT, card.id)
    assert "Succeeded" in card.text and card.buttons == []


async def test_an_edit_that_changes_nothing_is_not_an_error_nor_tried_again(
    telegram: TelegramBot,
) -> None:
    await telegram.command("/playbook clear-cache")
    run = await telegram.deps.store.get_run(1)
    assert run is not None
    before = len(telegram.fake.of("editMessageText"))
    await telegram.service.progress.refresh_card(run)  # the card shows exactly this already
    await telegram.settle()
    [edit] = telegram.fake.of("editMessageText")[before:]
    assert edit.failed and edit.error.startswith("Bad Request: message is not modified")
    await telegram.service.progress.resync_cards()
    await telegram.settle()
    assert len(telegram.fake.of("editMessageText")) == before + 1  # nothing to bring up to date
