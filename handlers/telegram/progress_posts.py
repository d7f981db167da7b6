"""Progress replies paced per chat: lines that would wait for the chat's budget go together.

A run replies to its card at every step, and Telegram lets a bot send about 20 messages and
edits a minute to one group. Each chat gets a budget (:mod:`handlers.telegram.pacing`: a few
posts at once, then a steady rate); a line within budget is sent at once and its outcome (an
error too) is the caller's. Beyond the budget the line is held and the caller returns; one
task per chat sends what is held as the budget refills: every held line replying to the same
message, in order, joined into one message (up to :data:`JOINED_MAX` characters). So a
30-step run costs its chat the budget's rate in replies, and every step's line still
arrives, in order.

A message that must be sent by itself (one with buttons, one whose poster waits for it)
first has the held lines before it sent (:meth:`ProgressPosts.before`), so the thread reads
in the order things happened. A held batch that fails for a reason that passes is tried
again later; one Telegram refuses for good is dropped and logged. :meth:`ProgressPosts.close`
sends everything held at once, before the bot stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from handlers.telegram.pacing import ChatBudget, ChatPace, PerChat

__all__ = ["JOINED_MAX", "Line", "ProgressPosts", "next_batch"]

log = structlog.get_logger(__name__)

JOINED_MAX = 3500
"""Characters of HTML one joined message may hold: below Telegram's 4,096 after parsing."""


@dataclass(frozen=True, slots=True)
class Line:
    """One progress reply: in ``thread`` (a forum topic, or None), to message ``reply_to``."""

    thread: str | None
    reply_to: str
    html: str


Send = Callable[[str, str | None, str, str], Awaitable[None]]
"""Sends one message: (chat, thread, reply-to message id, HTML); raises when it could not."""


def next_batch(held: list[Line], limit: int = JOINED_MAX) -> tuple[list[Line], str]:
    """The lines to send next and their joined text: the oldest held line and every later one
    replying to the same message, in order, while the text stays within ``limit`` (the first
    line always goes, however long). Pure: ``held`` is not changed."""
    first = held[0]
    batch, size = [first], len(first.html)
    for line in held[1:]:
        if (line.thread, line.reply_to) != (first.thread, first.reply_to):
            continue
        if size + 1 + len(line.html) > limit:
            break
        batch.append(line)
        size += 1 + len(line.html)
    return batch, "\n".join(line.html for line in batch)


@dataclass(eq=False)
class _Chat(ChatPace):
    held: list[Line] = field(default_factory=list)


class ProgressPosts(PerChat[_Chat, Send]):
    """Paces the progress replies ``send`` makes; see the module docstring."""

    unsent_event = "telegram_progress_unsent"
    default_burst = 2
    default_per_minute = 6.0

    async def post(self, chat: str, line: Line) -> None:
        """Send ``line`` now if the chat's budget allows and nothing is held before it
        (errors are raised), else hold it for the chat's next batch."""
        paced = self._paced(chat)
        quiet = not paced.held and not paced.lock.locked() and not self._closing
        if quiet and paced.budget.take(_now()) == 0.0:
            async with paced.lock:
                await self._send(chat, line.thread, line.reply_to, line.html)
            return
        paced.held.append(line)
        self._start_draining(chat, paced)

    async def before(self, chat: str, reply_to: str) -> None:
        """Send now, whatever the budget, the held lines replying to ``reply_to``: a message
        about to be sent there by itself comes after them."""
        paced = self._chats.get(chat)
        if paced is None:
            return
        async with paced.lock:
            while any(line.reply_to == reply_to for line in paced.held):
                mine = [line for line in paced.held if line.reply_to == reply_to]
                batch, text = next_batch(mine)
                if not await self._send_batch(chat, paced, batch, text):
                    return  # Telegram can't take it now: the drain sends it when it can

    def _new(self, budget: ChatBudget) -> _Chat:
        return _Chat(budget)

    def _waiting(self, paced: _Chat) -> int:
        return len(paced.held)

    async def _drain(self, chat: str, paced: _Chat) -> None:
        backoff = self.retry_after
        while paced.held:
            wait = 0.0 if self._closing else paced.budget.take(_now())
            if wait > 0:
                await self._pause(paced, wait)
                continue
            async with paced.lock:
                if not paced.held:  # sent meanwhile, ahead of a message of its own
                    continue
                batch, text = next_batch(paced.held)
                if await self._send_batch(chat, paced, batch, text):
                    backoff = self.retry_after
                    continue
            await self._pause(paced, backoff)
            backoff = min(backoff * 2, 60.0)

    async def _send_batch(self, chat: str, paced: _Chat, batch: list[Line], text: str) -> bool:
        """Send ``batch`` as one message (the caller holds the chat's lock); False when it
        failed for a reason that passes and stays held."""
        first = batch[0]
        try:
            await self._send(chat, first.thread, first.reply_to, text)
        except Exception as exc:
            transient = self._is_transient(exc) and not self._closing
            log.warning(
                "telegram_progress_failed",
                chat=chat,
                lines=len(batch),
                error=repr(exc),
                again=transient,
            )
            if transient:
                return False
        for line in batch:
            paced.held.remove(line)
        return True


def _now() -> float:
    return asyncio.get_running_loop().time()
