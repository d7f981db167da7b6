"""The short keys Telegram buttons carry: made without I/O, recorded in the database once.

A button's key is the same every time it is rendered (:mod:`bot.db.callback_tokens`), so
it is known before anything is asked of the database, and once recorded it is remembered:
a card edited at every step records its keys once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from bot.chat import Button
from bot.db.callback_tokens import CallbackTokens, Resolved

__all__ = ["ButtonKeys"]

SURFACE = "telegram"
_KEPT = 4096  # keys remembered as recorded (a few per run)


class ButtonKeys:
    def __init__(self, tokens: CallbackTokens) -> None:
        self.tokens = tokens
        self._recorded: OrderedDict[str, None] = OrderedDict()

    def keys(self, chat: str, buttons: Sequence[Button]) -> list[str]:
        """The key of each button shown in ``chat`` (see :meth:`record`)."""
        return [self.tokens.token(SURFACE, chat, button) for button in buttons]

    async def record(self, chat: str, buttons: Sequence[Button]) -> None:
        """Record the keys of ``buttons`` shown in ``chat``, so a press resolves them."""
        new = [b for b in buttons if self.tokens.token(SURFACE, chat, b) not in self._recorded]
        if not new:
            return
        for key in await self.tokens.record(SURFACE, chat, new):
            self._recorded[key] = None
            self._recorded.move_to_end(key)
        while len(self._recorded) > _KEPT:
            self._recorded.popitem(last=False)

    async def resolve(self, key: str) -> Resolved | None:
        """The button behind a key a press sent back; None for one the bot never made."""
        return await self.tokens.resolve(SURFACE, key)
