"""The short keys Telegram buttons carry, made and read through the database, remembered.

A key never changes once made (:mod:`bot.db.callback_tokens`), so the keys of the buttons
rendered lately are kept in memory: a card edited at every step reads the database once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from bot.chat import Button
from bot.db.callback_tokens import CallbackTokens, Resolved

__all__ = ["ButtonKeys"]

SURFACE = "telegram"
_KEPT = 4096  # buttons whose keys are remembered (a few per run)

_Button = tuple[str, int, str, str]  # chat, run, action, step


class ButtonKeys:
    def __init__(self, tokens: CallbackTokens) -> None:
        self.tokens = tokens
        self._known: OrderedDict[_Button, str] = OrderedDict()

    async def keys(self, chat: str, buttons: Sequence[Button]) -> list[str]:
        """The key of each button shown in ``chat``."""
        wanted = [_of(chat, button) for button in buttons]
        found = {w: self._known[w] for w in wanted if w in self._known}
        missing = [b for b, w in zip(buttons, wanted, strict=True) if w not in found]
        if missing:
            made = await self.tokens.tokens_for(SURFACE, chat, missing)
            for button, key in zip(missing, made, strict=True):
                found[_of(chat, button)] = key
                self._remember(_of(chat, button), key)
        return [found[w] for w in wanted]

    async def resolve(self, key: str) -> Resolved | None:
        """The button behind a key a click sent back; None for one the bot never made."""
        return await self.tokens.resolve(SURFACE, key)

    def _remember(self, button: _Button, key: str) -> None:
        self._known[button] = key
        self._known.move_to_end(button)
        if len(self._known) > _KEPT:
            self._known.popitem(last=False)


def _of(chat: str, button: Button) -> _Button:
    return chat, button.run_id, button.action.value, button.step or ""
