"""Card edits paced per chat: the latest state of each card wins, the last one always lands.

Telegram lets a bot send about 20 messages and edits a minute to one group, and a run
edits its card at every step. Each chat gets a budget (:mod:`handlers.telegram.pacing`: a
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

from handlers.telegram.pacing import ChatBudget, ChatPace, PerChat

__all__ = ["CardEdits"]

log = structlog.get_logger(__name__)

T = TypeVar("T")
Send = Callable[[str, str, T], Awaitable[None]]
"""Makes one edit: (chat, message id, what to show); raises when it could not."""


@dataclass(eq=False)
class _Chat(ChatPace, Generic[T]):
    kept: dict[str, T] = field(default_factory=dict)  # message id -> newest state


class CardEdits(PerChat[_Chat[T], Send[T]]):
    """Paces the edits ``send`` makes; see the module docstring."""

    unsent_event = "telegram_card_edits_unsent"
    default_burst = 3
    default_per_minute = 8.0

    async def edit(self, chat: str, message_id: str, state: T) -> None:
        """Show ``state`` on message ``message_id`` of ``chat``: now, if the chat's budget
        allows and nothing waits before it (errors are raised), else as soon as it does."""
        paced = self._paced(chat)
        quiet = not paced.kept and not paced.lock.locked() and not self._closing
        if quiet and paced.budget.take(_now()) == 0.0:
            async with paced.lock:
                await self._send(chat, message_id, state)
            return
        paced.kept.pop(message_id, None)  # a newer state: it waits at the back
        paced.kept[message_id] = state
        self._start_draining(chat, paced)

    def _new(self, budget: ChatBudget) -> _Chat[T]:
        return _Chat(budget)

    def _waiting(self, paced: _Chat[T]) -> int:
        return len(paced.kept)

    async def _drain(self, chat: str, paced: _Chat[T]) -> None:
        backoff = self.retry_after
        while paced.kept:
            wait = 0.0 if self._closing else paced.budget.take(_now())
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


def _now() -> float:
    return asyncio.get_running_loop().time()
