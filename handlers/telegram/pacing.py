"""What card edits and progress replies share: a budget per chat, and one task per chat that
sends what waited for it.

Telegram lets a bot send about 20 messages and edits a minute to one group. Each pacer
(:mod:`~handlers.telegram.edits`, :mod:`~handlers.telegram.progress_posts`) gives every chat
a :class:`ChatBudget` and, when something has to wait for it, a task that sends it as the
budget refills. This module holds that machinery: waiting for the tasks, closing (everything
waiting sent at once, whatever the budget), and the pause a closing bot cuts short.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import structlog

__all__ = ["ChatBudget", "ChatPace", "PerChat"]

log = structlog.get_logger(__name__)


class ChatBudget:
    """A token bucket: ``burst`` sends at once, refilled at ``per_minute``. Pure: the time
    is always given."""

    def __init__(self, *, burst: int, per_minute: float, now: float) -> None:
        if burst < 1 or per_minute <= 0:
            raise ValueError("a chat budget needs burst >= 1 and per_minute > 0")
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
class ChatPace:
    """One chat's budget and sending task; a pacer's own subclass adds what waits."""

    budget: ChatBudget
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one send at a time, in order
    task: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # cuts a wait short (closing)


P = TypeVar("P", bound=ChatPace)
S = TypeVar("S")


class PerChat(ABC, Generic[P, S]):
    """A pacer's chats, their tasks, and closing; ``send`` (of type S) makes one send and
    raises when it could not, and ``is_transient`` says whether trying again may work."""

    close_timeout = 10.0
    unsent_event = "telegram_unsent"
    default_burst = 3
    default_per_minute = 8.0

    def __init__(
        self,
        send: S,
        *,
        burst: int | None = None,
        per_minute: float | None = None,
        retry_after: float = 5.0,
        is_transient: Callable[[BaseException], bool] = lambda _exc: True,
    ) -> None:
        self._send = send
        self.burst = self.default_burst if burst is None else burst
        self.per_minute = self.default_per_minute if per_minute is None else per_minute
        self.retry_after = retry_after  # first wait after a failed send; doubles to 60 s
        self._is_transient = is_transient
        self._chats: dict[str, P] = {}
        self._closing = False

    @abstractmethod
    def _new(self, budget: ChatBudget) -> P:
        """A new chat's state."""

    @abstractmethod
    def _waiting(self, paced: P) -> int:
        """How many sends wait in ``paced``."""

    @abstractmethod
    async def _drain(self, chat: str, paced: P) -> None:
        """Send what waits in ``paced`` as its budget allows (at once when closing)."""

    @property
    def waiting(self) -> int:
        """Sends waiting for their chat's budget, across chats."""
        return sum(self._waiting(paced) for paced in self._chats.values())

    def _paced(self, chat: str) -> P:
        paced = self._chats.get(chat)
        if paced is None:
            now = asyncio.get_running_loop().time()
            budget = ChatBudget(burst=self.burst, per_minute=self.per_minute, now=now)
            paced = self._chats[chat] = self._new(budget)
        return paced

    def _start_draining(self, chat: str, paced: P) -> None:
        if paced.task is None or paced.task.done():
            paced.task = asyncio.create_task(self._drain(chat, paced), name=f"paced-{chat}")

    async def idle(self) -> None:
        """Wait until everything waiting is sent (or dropped)."""
        while True:
            tasks = [p.task for p in self._chats.values() if p.task and not p.task.done()]
            if not tasks:
                return
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        """Send everything waiting now, whatever the budget (waiting at most close_timeout s)."""
        self._closing = True
        for chat, paced in self._chats.items():
            paced.wake.set()
            if self._waiting(paced):
                self._start_draining(chat, paced)
        try:
            async with asyncio.timeout(self.close_timeout):
                await self.idle()
        except TimeoutError:
            log.warning(self.unsent_event, left=self.waiting)
            for paced in self._chats.values():
                if paced.task is not None:
                    paced.task.cancel()

    @staticmethod
    async def _pause(paced: ChatPace, seconds: float) -> None:
        """Wait ``seconds``, or less if woken (the bot is closing)."""
        try:
            async with asyncio.timeout(seconds):
                await paced.wake.wait()
        except TimeoutError:
            pass
