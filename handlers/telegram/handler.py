"""The bot's one PTB handler, and the order updates are processed in.

:class:`ChatOpsHandler` is a PTB ``BaseHandler`` as PTB's own are built: ``check_update``
decides without I/O (:func:`handlers.telegram.updates.decide`), ``handle_update`` acts
(:class:`handlers.telegram.inbound.TelegramInbound`).

:class:`InOrderPerPerson` processes updates concurrently, except that one person's presses
are handled one at a time, in the order Telegram sent them: a Cancel pressed right after
Run is handled after it.
"""

from __future__ import annotations

import asyncio
from collections import deque
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
    """Up to ``max_concurrent_updates`` at once. One person's presses and replies are
    handled alone, in the order Telegram sent them; their commands may run beside each
    other, but after the presses sent before them (a command only names a run whose card
    it has seen, posted by an earlier command)."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._turns: dict[int, _Turns] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        person = _person(update)
        if person is None:
            await coroutine
            return
        turns = self._turns.get(person)
        if turns is None:
            turns = self._turns[person] = _Turns()
        alone = _alone(update)
        await turns.take(alone=alone)
        try:
            await coroutine
        finally:
            turns.give_back(alone=alone)
            if turns.idle:
                del self._turns[person]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""


class _Turns:
    """One person's updates: those that run alone, and those that may run together, first
    come first served."""

    def __init__(self) -> None:
        self.together = 0  # in progress beside each other
        self.alone = False  # one in progress alone
        self.waiting: deque[tuple[bool, asyncio.Future[None]]] = deque()

    @property
    def idle(self) -> bool:
        return not (self.together or self.alone or self.waiting)

    def _may_start(self, alone: bool) -> bool:
        return not self.alone and (not alone or not self.together)

    async def take(self, *, alone: bool) -> None:
        if not self.waiting and self._may_start(alone):
            self._start(alone)
            return
        turn = asyncio.get_running_loop().create_future()
        self.waiting.append((alone, turn))
        await turn  # started by give_back, in order

    def give_back(self, *, alone: bool) -> None:
        if alone:
            self.alone = False
        else:
            self.together -= 1
        while self.waiting and self._may_start(self.waiting[0][0]):
            next_alone, turn = self.waiting.popleft()
            self._start(next_alone)
            turn.set_result(None)

    def _start(self, alone: bool) -> None:
        if alone:
            self.alone = True
        else:
            self.together += 1


def _person(update: object) -> int | None:
    if isinstance(update, Update) and update.effective_user is not None:
        return update.effective_user.id
    return None


def _alone(update: object) -> bool:
    """Presses and replies (a Deny's reason) run alone; commands may run together."""
    if not isinstance(update, Update):
        return True
    message = update.message
    return update.callback_query is not None or (
        message is not None and message.reply_to_message is not None
    )
