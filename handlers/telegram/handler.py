"""The bot's one PTB handler, and the order updates are processed in.

:class:`ChatOpsHandler` is a PTB ``BaseHandler`` as PTB's own are built: ``check_update``
decides without I/O (:func:`handlers.telegram.updates.decide`), ``handle_update`` acts
(:class:`handlers.telegram.inbound.TelegramInbound`).

:class:`InOrderPerPerson` processes updates concurrently, except that one person's updates
are handled one at a time, in the order Telegram sent them: a Cancel pressed right after
Run is handled after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import Application, BaseHandler, BaseUpdateProcessor

from handlers.telegram.updates import Clicked, Decision, Refused, Replied, Typed

__all__ = ["ChatOpsHandler", "InOrderPerPerson"]


class ChatOpsHandler(BaseHandler[Update, Any, None]):
    def __init__(
        self,
        decide: Callable[[Update], Decision | None],
        act: Callable[[Decision], Awaitable[None]],
    ) -> None:
        super().__init__(self._never_called, block=True)
        self._decide = decide
        self._act = act

    def check_update(self, update: object) -> Decision | None:
        if not isinstance(update, Update):
            return None
        return self._decide(update)

    async def handle_update(
        self,
        update: Update,
        application: Application[Any, Any, Any, Any, Any, Any],
        check_result: object,
        context: Any,
    ) -> None:
        if isinstance(check_result, Typed | Clicked | Replied | Refused):
            await self._act(check_result)

    @staticmethod
    async def _never_called(update: Update, context: Any) -> None:
        raise AssertionError("ChatOpsHandler acts in handle_update")


class InOrderPerPerson(BaseUpdateProcessor):
    """Up to ``max_concurrent_updates`` at once; one person's one after another."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        person = _person(update)
        if person is None:
            await coroutine
            return
        lock = self._locks.setdefault(person, asyncio.Lock())
        self._waiting[person] = self._waiting.get(person, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._waiting[person] -= 1
            if not self._waiting[person]:
                del self._waiting[person]
                del self._locks[person]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""


def _person(update: object) -> int | None:
    if isinstance(update, Update) and update.effective_user is not None:
        return update.effective_user.id
    return None
