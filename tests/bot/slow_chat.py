"""A slow (or hanging) chat platform for whole-flow tests, in front of the console's Chat.

    slow = SlowChat.attach(bot, delay=0.25)

Every call waits ``delay`` seconds before it reaches the console, so what the bot finally
said still lands in ``bot``'s transcript (``bot.thread(1)``, ``bot.card(1)``) — late.
"""

from __future__ import annotations

import asyncio

from bot.chat import Button, ButtonPress, Card, Invocation, MessageRef, Place
from handlers.shell.output import ShellChat
from handlers.shell.testing import ConsoleBot

__all__ = ["SlowChat"]


class SlowChat:
    """A Chat that answers ``delay`` seconds late; ``calls`` counts the calls begun and
    ``edits`` keeps every card edit asked for, in order."""

    def __init__(self, inner: ShellChat, delay: float) -> None:
        self.inner = inner
        self.delay = delay
        self.surface = inner.surface
        self.calls = 0
        self.edits: list[tuple[MessageRef, Card]] = []

    @classmethod
    def attach(cls, bot: ConsoleBot, delay: float) -> SlowChat:
        """Put a slow chat between ``bot``'s service and its console."""
        slow = cls(bot.chat, delay)
        bot.service.attach(slow)
        return slow

    async def _late(self) -> None:
        self.calls += 1
        await asyncio.sleep(self.delay)

    async def post_card(self, place: Place, card: Card) -> MessageRef:
        await self._late()
        return await self.inner.post_card(place, card)

    async def update_card(self, ref: MessageRef, card: Card) -> None:
        self.edits.append((ref, card))
        await self._late()
        await self.inner.update_card(ref, card)

    async def post_in_thread(
        self, ref: MessageRef, text: str, buttons: list[Button] | None = None
    ) -> MessageRef:
        await self._late()
        return await self.inner.post_in_thread(ref, text, buttons)

    async def post_progress(self, ref: MessageRef, text: str) -> None:
        await self._late()
        await self.inner.post_progress(ref, text)

    async def update_message(
        self, ref: MessageRef, text: str, buttons: list[Button] | None = None
    ) -> None:
        await self._late()
        await self.inner.update_message(ref, text, buttons)

    async def post_message(self, place: Place, text: str) -> MessageRef:
        await self._late()
        return await self.inner.post_message(place, text)

    async def reply_private(self, to: Invocation | ButtonPress, text: str) -> None:
        await self._late()
        await self.inner.reply_private(to, text)

    async def reply(self, to: Invocation | ButtonPress, text: str) -> None:
        await self._late()
        await self.inner.reply(to, text)

    def mention(self, identity: str) -> str:
        return self.inner.mention(identity)
