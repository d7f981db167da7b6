"""Card edits paced per chat: the latest state of each card wins, the last one always lands.

Telegram lets a bot send about 20 messages and edits a minute to one group, and a run
edits its card at every step. Each chat gets an :class:`EditBudget` (a token bucket: a
few edits at once, then a steady rate); an edit within budget is made at once and its
outcome (an error too) is the caller's. Beyond the budget the card's newest state is kept
and the caller returns: a later edit of the same card replaces it, and one task per chat
makes the kept edits as the budget refills, oldest card first. So a 30-step run costs its
chat the budget's rate in edits, not one per step, and its final state is always shown.

A kept edit that fails for a reason that passes (Telegram unreachable, a rate limit) is
kept and tried again later, unless a newer state replaced it; one Telegram refuses for good
(the message was deleted) is dropped and logged. :meth:`CardEdits.close` makes every kept
edit at once, before the bot stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import structlog

__all__ = ["CardEdits", "EditBudget"]

log = structlog.get_logger(__name__)

T = TypeVar("T")
Send = Callable[[str, str, T], Awaitable[None]]
"""Makes one edit: (chat, message id, what to show); raises when it could not."""


class EditBudget:
    """A token bucket: ``burst`` edits at once, refilled at ``per_minute``. Pure: the time
    is always given."""

    def __init__(self, *, burst: int, per_minute: float, now: float) -> None:
        if burst < 1 or per_minute <= 0:
            raise ValueError("an edit budget needs burst >= 1 and per_minute > 0")
        self.burst = burst
        self.every = 60.0 / per_minute  # seconds per token
        self._tokens = float(burst)
        self._at = now

    def take(self, now: float) -> float:
        """Take a token if there is one (returns 0.0); else how long until there is one
        (nothing is taken)."""
        self._tokens = min(self.burst, self._tokens + (now - self._at) / self.every)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) * self.every


@dataclass(eq=False)
class _Chat(Generic[T]):
    budget: EditBudget
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one edit at a time, in order
    kept: dict[str, T] = field(default_factory=dict)  # message id -> newest state
    task: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # cuts a wait short (closing)


class CardEdits(Generic[T]):
    """Paces the edits ``send`` makes; see the module docstring."""

    def __init__(
        self,
        send: Send[T],
        *,
        burst: int = 4,
        per_minute: float = 10.0,
        retry_after: float = 5.0,
        is_transient: Callable[[BaseException], bool] = lambda _exc: True,
    ) -> None:
        self._send = send
        self.burst = burst
        self.per_minute = per_minute
        self.retry_after = retry_after  # first wait after a failed kept edit; doubles to 60 s
        self.close_timeout = 10.0
        self._is_transient = is_transient
        self._chats: dict[str, _Chat[T]] = {}
        self._closing = False

    async def edit(self, chat: str, message_id: str, state: T) -> None:
        """Show ``state`` on message ``message_id`` of ``chat``: now, if the chat's budget
        allows and nothing waits before it (errors are raised), else as soon as it does."""
        loop = asyncio.get_running_loop()
        paced = self._chats.get(chat)
        if paced is None:
            budget = EditBudget(burst=self.burst, per_minute=self.per_minute, now=loop.time())
            paced = self._chats[chat] = _Chat(budget)
        quiet = not paced.kept and not paced.lock.locked() and not self._closing
        if quiet and paced.budget.take(loop.time()) == 0.0:
            async with paced.lock:
                await self._send(chat, message_id, state)
            return
        paced.kept.pop(message_id, None)  # a newer state: it waits at the back
        paced.kept[message_id] = state
        if paced.task is None or paced.task.done():
            paced.task = asyncio.create_task(self._drain(chat, paced), name=f"card-edits-{chat}")

    @property
    def waiting(self) -> int:
        """Edits kept for later, across chats."""
        return sum(len(paced.kept) for paced in self._chats.values())

    async def idle(self) -> None:
        """Wait until every kept edit is made (or dropped)."""
        while True:
            tasks = [p.task for p in self._chats.values() if p.task and not p.task.done()]
            if not tasks:
                return
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        """Make every kept edit now, whatever the budget (waiting at most close_timeout s)."""
        self._closing = True
        for chat, paced in self._chats.items():
            paced.wake.set()
            if paced.kept and (paced.task is None or paced.task.done()):
                paced.task = asyncio.create_task(self._drain(chat, paced))
        try:
            async with asyncio.timeout(self.close_timeout):
                await self.idle()
        except TimeoutError:
            log.warning("telegram_card_edits_unsent", left=self.waiting)
            for paced in self._chats.values():
                if paced.task is not None:
                    paced.task.cancel()

    async def _drain(self, chat: str, paced: _Chat[T]) -> None:
        loop = asyncio.get_running_loop()
        backoff = self.retry_after
        while paced.kept:
            wait = 0.0 if self._closing else paced.budget.take(loop.time())
            if wait > 0:
                await self._pause(paced, wait)
                continue
            async with paced.lock:
                message_id = next(iter(paced.kept))
                state = paced.kept.pop(message_id)
                try:
                    await self._send(chat, message_id, state)
                except Exception as exc:
                    transient = self._is_transient(exc)
                    log.warning(
                        "telegram_card_edit_failed",
                        chat=chat,
                        message=message_id,
                        error=repr(exc),
                        again=transient and not self._closing,
                    )
                    if not transient or self._closing:
                        continue
                    paced.kept.setdefault(message_id, state)  # unless a newer one came
                else:
                    backoff = self.retry_after
                    continue
            await self._pause(paced, backoff)
            backoff = min(backoff * 2, 60.0)

    @staticmethod
    async def _pause(paced: _Chat[T], seconds: float) -> None:
        """Wait ``seconds``, or less if woken (the bot is closing)."""
        try:
            async with asyncio.timeout(seconds):
                await paced.wake.wait()
        except TimeoutError:
            pass
