"""The console as a test fixture: push commands as named users, read what the bot said.

bot = await ConsoleBot.open(settings, environ={...})
await bot.send("/playbook clear-cache index_name=kb", user="alice")
await bot.press("Run", 1, user="alice")
run = await bot.finished(1)
assert "succeeded" in bot.thread(1)[-1]
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from bot.chat import Card
from bot.clock import Clock
from bot.db.records import RunRecord
from bot.dependencies import Dependencies, open_dependencies
from bot.service import ChatOpsService
from bot.settings import Settings
from handlers.shell.output import ShellChat, ShellMessage
from handlers.shell.session import ShellSession

__all__ = ["ConsoleBot"]


class ConsoleBot:
    """A whole bot (real store, engine and catalog) driven through the console surface."""

    def __init__(self, deps: Dependencies, service: ChatOpsService, chat: ShellChat) -> None:
        self.deps = deps
        self.service = service
        self.chat = chat
        self.lines: list[str] = []
        self.session = ShellSession(service, chat, user="alice")

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        start: bool = True,
    ) -> ConsoleBot:
        deps = await open_dependencies(settings, environ=environ or {}, clock=clock)
        service = ChatOpsService(deps)
        lines: list[str] = []
        chat = ShellChat(lines.append)
        service.attach(chat)
        bot = cls(deps, service, chat)
        bot.lines = lines
        if start:
            await service.start()
        return bot

    async def close(self) -> None:
        await self.service.shutdown()
        await self.deps.close()

    async def send(self, text: str, *, user: str = "alice") -> list[ShellMessage]:
        """Type ``text`` as ``user``; returns what the bot said while handling it."""
        before = len(self.chat.messages)
        await self.session.execute(text, user=user)
        return self.chat.messages[before:]

    async def press(
        self, label: str, run_id: int, *, user: str = "alice", reason: str = ""
    ) -> list[ShellMessage]:
        """Press ``label`` on run ``run_id`` as ``user``; returns what the bot said meanwhile."""
        before = len(self.chat.messages)
        await self.session.press(label, run_id, user=user, reason=reason)
        return self.chat.messages[before:]

    async def finished(self, run_id: int) -> RunRecord:
        """Wait until no run executes in this process, then return run ``run_id``."""
        await self.service.wait_idle()
        run = await self.deps.store.get_run(run_id)
        assert run is not None, f"no run #{run_id}"
        return run

    async def wait_until(self, condition: Callable[[], bool], limit: float = 10.0) -> None:
        """Wait (on the real clock) until ``condition()`` holds, e.g. a run paused at a gate."""
        async with asyncio.timeout(limit):
            # Polling: the condition is any predicate over the transcript, not one event.
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.01)

    def card(self, run_id: int) -> Card:
        """The card of run ``run_id`` as it looks now (after every edit)."""
        for message in self.chat.messages:
            if message.card is not None and message.card.run_id == run_id:
                return message.card
        raise AssertionError(f"no card was posted for run #{run_id}")

    def card_message(self, run_id: int) -> ShellMessage:
        for message in self.chat.messages:
            if message.card is not None and message.card.run_id == run_id:
                return message
        raise AssertionError(f"no card was posted for run #{run_id}")

    def thread(self, run_id: int) -> list[str]:
        """Texts posted in the thread of run ``run_id``'s card, oldest first."""
        card_id = self.card_message(run_id).id
        return [m.text for m in self.chat.messages if m.thread_of == card_id]

    def private(self, user: str) -> list[str]:
        """Texts only ``user`` saw, oldest first."""
        return [m.text for m in self.chat.messages if m.kind == "private" and m.to_user == user]

    def channel_posts(self, channel: str) -> list[str]:
        return [m.text for m in self.chat.messages if m.kind == "message" and m.channel == channel]
