"""Webhook mode: the webhook set at start-up, and POST /telegram/webhook's checks."""

from __future__ import annotations

import json
from pathlib import Path

from tests.handlers.telegram.conftest import (
    CHAT,
    CONFIG,
    SECRET,
    WEBHOOK_URL,
    TelegramBot,
    running_telegram_bot,
)
from tests.support.clock import FastClock
from tests.support.fake_telegram import BOT_USERNAME, FakeTelegram


async def test_start_up_sets_the_webhook_with_its_secret_and_the_command_menu(
    telegram_webhook: TelegramBot,
) -> None:
    fake = telegram_webhook.fake
    [webhook] = fake.of("setWebhook")
    assert webhook.args["url"] == WEBHOOK_URL
    assert webhook.args["secret_token"] == SECRET
    assert webhook.args["allowed_updates"] == ["message", "callback_query"]
    assert [c["command"] for c in fake.commands] == ["playbook"]  # no schedules configured
    assert fake.of("getUpdates") == []  # one way in: the webhook
    assert fake.of("getMe")[0].args == {}


async def test_the_command_menu_offers_schedule_when_schedules_are_configured(
    fake_telegram: FakeTelegram, tmp_path: Path, target_env: dict[str, str], clock: FastClock
) -> None:
    (tmp_path / "chatops.yaml").write_text(
        CONFIG
        + """
channels:
  fintech-reports: {telegram: -1001234567890}
schedules:
  daily-summary: {cron: "0 8 * * *", digest: {channel: fintech-reports}}
"""
    )
    async with running_telegram_bot(fake_telegram, tmp_path, target_env, clock, webhook=True):
        assert [c["command"] for c in fake_telegram.commands] == ["playbook", "schedule"]


async def test_updates_posted_to_the_webhook_run_commands(telegram_webhook: TelegramBot) -> None:
    await telegram_webhook.command(f"/playbook@{BOT_USERNAME} clear-cache")
    assert "Clear Elasticsearch cache · run #1" in telegram_webhook.card(1).text


async def test_a_wrong_or_missing_secret_is_refused_403_before_the_body_is_read(
    telegram_webhook: TelegramBot,
) -> None:
    bot = telegram_webhook
    update = bot.fake.command_update("/playbook clear-cache", chat=CHAT)
    body = json.dumps(update).encode()
    wrong = await bot.client.post(
        "/telegram/webhook",
        content=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"},
    )
    missing = await bot.client.post("/telegram/webhook", content=body)
    # Far over the size limit, yet refused for the secret: the body is never read.
    huge = await bot.client.post(
        "/telegram/webhook",
        content=b"x" * 2_000_000,
        headers={"X-Telegram-Bot-Api-Secret-Token": "guess"},
    )
    assert [wrong.status_code, missing.status_code, huge.status_code] == [403, 403, 403]
    await bot.settle()
    assert bot.fake.messages(CHAT) == []
    assert await bot.deps.store.get_run(1) is None
    metrics = (await bot.client.get("/metrics")).text
    assert 'chatops_http_requests_refused_total{status="403",surface="telegram"} 3.0' in metrics


async def test_oversized_or_malformed_updates_are_refused(telegram_webhook: TelegramBot) -> None:
    bot = telegram_webhook
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

    async def post(content: bytes) -> int:
        response = await bot.client.post("/telegram/webhook", content=content, headers=headers)
        return response.status_code

    assert await post(b"{" + b" " * 300_000 + b"}") == 413
    assert await post(b"{not json") == 400
    assert await post(b"\xff\xfe") == 400
    assert await post(b"[1, 2]") == 400
    assert await post(b'{"message": {}}') == 400  # no update_id
    assert await post(b"[" * 100_000 + b"]" * 100_000) == 400  # deeper than JSON is read
    nonsense = {"update_id": 1, "message": {"chat": "not an object", "date": "soon"}}
    assert await post(json.dumps(nonsense).encode()) == 400
    assert await post(json.dumps({"update_id": 2, "poll": {"id": "1"}}).encode()) == 400
    await bot.settle()
    assert bot.fake.messages(CHAT) == []
