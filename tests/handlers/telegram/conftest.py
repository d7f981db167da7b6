"""A bot with the Telegram surface on, against a fake Bot API, driven by updates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

from bot.dependencies import Dependencies, open_dependencies
from bot.http_app import build_http_app
from bot.service import ChatOpsService
from bot.settings import Settings
from handlers.telegram.app import Limits, TelegramSurface
from tests.support.clock import FastClock
from tests.support.fake_telegram import ALICE, FakeMessage, FakeTelegram, FakeUser

CHAT = -1001234567890  # a forum supergroup the bot serves; topic 7 is #incidents
TOPIC = 7
OTHER_CHAT = -1009999999999  # a group the bot was added to but does not serve
SECRET = "webhook-secret_0123456789"
WEBHOOK_URL = "https://chatops.example.com/telegram/webhook"

CONFIG = f"""
roles:
  sre-lead: {{telegram: [222222222, 333333333]}}
  sre: {{telegram: [111111111, 222222222, 333333333]}}
telegram:
  allowed_chats: [{CHAT}]
engine: {{approval_poll_every: 50ms}}
"""

RESTART = """
name: restart-service
title: Restart a service
risk: medium
params:
  service: {type: string, required: true, choices: [api, worker], description: which one}
approval:
  required: true
  approvers: [sre-lead]
  min_approvals: 2
steps:
  - id: restart
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/restart/{{ params.service }}"}
"""

ANNOUNCE = """
name: announce
title: Announce maintenance
params:
  message: {type: string, required: true}
steps:
  - id: post
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/announce", json: {text: "{{ params.message }}"}}
"""

# Nothing paces the tests but what a test sets itself.
FAST = Limits(
    messages_per_second=10_000,
    group_messages_per_minute=100_000,
    edit_burst=10_000,
    edits_per_minute=100_000,
    post_burst=10_000,
    posts_per_minute=100_000,
    answer_within=10.0,
    poll_timeout=1,
    api_connections=4,  # so a few cards are enough to keep every connection busy
)


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait, the loop running meanwhile, until ``condition()`` holds (TimeoutError if not)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


class TelegramBot:
    """Sends updates the way Telegram would (polling, or the webhook) and waits for the
    work each started."""

    def __init__(
        self,
        deps: Dependencies,
        service: ChatOpsService,
        surface: TelegramSurface,
        fake: FakeTelegram,
        client: httpx.AsyncClient | None,
    ) -> None:
        self.deps, self.service, self.surface, self.fake, self.client = (
            deps,
            service,
            surface,
            fake,
            client,
        )

    async def deliver(
        self, update: dict[str, Any], *, edits: bool = True, runs: bool = True
    ) -> int:
        """Hand ``update`` to the bot: queued for its poll, or posted to its webhook; then
        wait for what it started: (with ``runs``) runs to end, (with ``edits``) the card
        edits still paced."""
        if self.client is None:
            update_id = self.fake.push(update)
            await asyncio.to_thread(self.fake.wait_confirmed, update_id)
        else:
            response = await self.client.post(
                "/telegram/webhook",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            )
            assert response.status_code == 200, response.text
            update_id = int(update["update_id"])
        await self.settle(edits=edits, runs=runs)
        return update_id

    async def command(
        self, text: str, *, user: FakeUser = ALICE, chat: int = CHAT, thread: int | None = TOPIC
    ) -> int:
        return await self.deliver(
            self.fake.command_update(text, user=user, chat=chat, thread=thread)
        )

    async def press(
        self,
        label: str,
        *,
        user: FakeUser,
        containing: str = "",
        chat: int = CHAT,
        data: str | None = None,
        edits: bool = True,
        runs: bool = True,
    ) -> str:
        """Press ``label`` on the newest message that has it; returns the query id."""
        message = self.fake.find(chat, label, containing)
        sent = data if data is not None else dict(message.buttons)[label]
        update = self.fake.callback_update(message, sent, user=user)
        await self.deliver(update, edits=edits, runs=runs)
        return str(update["callback_query"]["id"])

    async def reply(self, to: FakeMessage, text: str, *, user: FakeUser) -> None:
        update = self.fake.command_update(text, user=user, chat=to.chat_id, thread=to.thread)
        update["message"].pop("entities", None)
        update["message"]["reply_to_message"] = to.json({to.chat_id: _chat_json()})
        await self.deliver(update)

    async def settle(self, *, edits: bool = True, runs: bool = True) -> None:
        """Wait for the updates taken, then (``runs``) for the runs they started, then
        (``edits``) for the card edits still waiting for their chat's budget."""
        await self.surface.idle(edits=edits)
        if runs:
            await self.service.wait_idle()
            await self.surface.idle(edits=edits)

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait (a run executing meanwhile) until ``condition()`` holds."""
        await wait_until(condition, timeout)

    def answer(self, query_id: str) -> dict[str, Any]:
        """How the bot answered a press (answerCallbackQuery's arguments)."""
        [answer] = [a for a in self.fake.answers() if a["callback_query_id"] == query_id]
        return answer

    def card(self, run_id: int, chat: int = CHAT) -> FakeMessage:
        """The run's card as it stands now."""
        for message in self.fake.messages(chat):
            if message.reply_to is None and f"· run #{run_id}" in message.text.split("\n")[0]:
                return message
        raise AssertionError(f"no card for run #{run_id}")

    def thread(self, run_id: int, chat: int = CHAT) -> list[FakeMessage]:
        """The bot's replies to the run's card, oldest first."""
        card = self.card(run_id, chat)
        return [m for m in self.fake.messages(chat) if m.reply_to == card.id]

    def said(self, chat: int = CHAT) -> list[str]:
        """Texts of the bot's messages that reply to someone's command (its answers)."""
        typed = {m.id for m in self.fake.messages(chat)}
        return [
            m.text
            for m in self.fake.messages(chat)
            if m.reply_to is not None and m.reply_to not in typed
        ]


def _chat_json() -> dict[str, Any]:
    return {"id": CHAT, "title": "incidents", "type": "supergroup", "is_forum": True}


def write_playbooks(folder: Path, playbooks: Mapping[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in playbooks.items():
        (folder / name).write_text(text)
    return folder


def telegram_settings(
    tmp_path: Path, fake: FakeTelegram, *, webhook: bool = False, **more: str
) -> Settings:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "chatops.yaml"
    if not config.exists():
        config.write_text(CONFIG)
    folder = write_playbooks(
        tmp_path / "playbooks", {"restart-service.yaml": RESTART, "announce.yaml": ANNOUNCE}
    )
    values = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/chatops.db",
        "CHATOPS_CONFIG": str(config),
        "CHATOPS_PLAYBOOK_DIRS": str(folder),
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.api_url,
    }
    if webhook:
        values |= {"TELEGRAM_WEBHOOK_URL": WEBHOOK_URL, "TELEGRAM_WEBHOOK_SECRET": SECRET}
    return Settings(**(values | more))


@asynccontextmanager
async def running_telegram_bot(
    fake: FakeTelegram,
    tmp_path: Path,
    target_env: dict[str, str],
    clock: FastClock,
    *,
    webhook: bool = False,
    limits: Limits = FAST,
    database_url: str | None = None,
) -> AsyncIterator[TelegramBot]:
    """A bot with Telegram on, started as ``chatops run`` starts it, against ``fake``."""
    fake.add_chat(CHAT, forum=True, topics=(TOPIC,))
    fake.add_chat(OTHER_CHAT, title="random")
    extra = {"DATABASE_URL": database_url} if database_url else {}
    settings = telegram_settings(tmp_path, fake, webhook=webhook, **extra)
    deps = await open_dependencies(settings, environ=target_env, clock=clock)
    service = ChatOpsService(deps)
    surface = TelegramSurface(service, settings, limits=limits)
    service.attach(surface.chat)
    try:
        await surface.open()
        await service.start()
        await surface.start()
        app = build_http_app(service, surface.routes())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            yield TelegramBot(deps, service, surface, fake, client if webhook else None)
    finally:
        await service.shutdown()
        await surface.close()
        await deps.close()


@pytest_asyncio.fixture
async def telegram(
    fake_telegram: FakeTelegram, tmp_path: Path, target_env: dict[str, str], clock: FastClock
) -> AsyncIterator[TelegramBot]:
    """The bot, polling."""
    async with running_telegram_bot(fake_telegram, tmp_path, target_env, clock) as bot:
        yield bot


@pytest_asyncio.fixture
async def telegram_webhook(
    fake_telegram: FakeTelegram, tmp_path: Path, target_env: dict[str, str], clock: FastClock
) -> AsyncIterator[TelegramBot]:
    """The bot, in webhook mode."""
    async with running_telegram_bot(
        fake_telegram, tmp_path, target_env, clock, webhook=True
    ) as bot:
        yield bot
