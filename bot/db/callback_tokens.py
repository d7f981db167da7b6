"""Short keys standing for buttons, for surfaces whose buttons carry only a few bytes.

Telegram sends back at most 64 bytes of ``callback_data`` with a click, and a client can
send any bytes it likes there. So a button carries a random key and nothing else: the
click is resolved here, to the run, action and step the bot rendered, in the chat it
rendered it in. A key is made once per button and chat, and every later rendering of that
button (a card edited in place) reuses it; two replicas rendering the same new button at
the same moment may each make one, and both keys stand for the same button.

A key may also stand for a question the bot put to one person (a Deny asking why, with a
reply prompt): :meth:`CallbackTokens.ask` records it, and :meth:`CallbackTokens.answer`
accepts the reply once, from that person only.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.chat import Button, ButtonAction
from bot.db.tables import CallbackTokenRow, metadata, utcnow

__all__ = ["TOKEN_CHARS", "Answer", "CallbackTokens", "Resolved", "new_token"]

TOKENS = metadata.tables[CallbackTokenRow.__tablename__]
TOKEN_CHARS = 16
"""Length of a key :func:`new_token` makes: 96 random bits, URL-safe base64."""


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_CHARS * 3 // 4)


@dataclass(frozen=True)
class Resolved:
    """What a key stands for: the button, and the chat it was shown in."""

    button: Button
    chat: str


class Answer(StrEnum):
    """How a reply to a question went: accepted, asked of someone else, or not a question
    (never asked, or answered before)."""

    ACCEPTED = "accepted"
    NOT_YOURS = "not_yours"
    NONE = "none"


class CallbackTokens:
    """The ``callback_tokens`` table, over the store's engine."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self._now = clock

    async def tokens_for(self, surface: str, chat: str, buttons: Sequence[Button]) -> list[str]:
        """The key of each of ``buttons`` (all of one run) shown in ``chat``: the key made
        for it before, else a new one. One read, and one write only for new buttons."""
        if not buttons:
            return []
        runs = {button.run_id for button in buttons}
        query = select(TOKENS.c.token, TOKENS.c.run_id, TOKENS.c.action, TOKENS.c.step).where(
            TOKENS.c.surface == surface,
            TOKENS.c.chat == chat,
            TOKENS.c.run_id.in_(runs),
            TOKENS.c.asked.is_(None),
        )
        found: dict[tuple[int, str, str], str] = {}
        async with self.engine.connect() as connection:
            for row in await connection.execute(query.order_by(TOKENS.c.created_at)):
                found.setdefault((row.run_id, row.action, row.step), row.token)
        fresh: list[dict[str, Any]] = []
        for button in buttons:
            key = _key(button)
            if key not in found:
                found[key] = new_token()
                fresh.append(self._row(found[key], surface, chat, button, None))
        if fresh:
            async with self.engine.begin() as connection:
                await connection.execute(insert(TOKENS), fresh)
        return [found[_key(button)] for button in buttons]

    async def resolve(self, surface: str, token: str) -> Resolved | None:
        """The button behind ``token``; None for a key the bot never made (or a question's)."""
        query = select(TOKENS).where(
            TOKENS.c.token == token[:64], TOKENS.c.surface == surface, TOKENS.c.asked.is_(None)
        )
        async with self.engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else Resolved(_button(row), row.chat)

    async def ask(self, surface: str, key: str, chat: str, button: Button, asked: str) -> None:
        """Remember that ``key`` (where the question was put) asks ``asked`` (an Actor key)
        for what completes ``button``."""
        async with self.engine.begin() as connection:
            await connection.execute(
                insert(TOKENS), [self._row(key[:64], surface, chat, button, asked[:200])]
            )

    async def answer(self, surface: str, key: str, asked: str) -> tuple[Answer, Button | None]:
        """Accept a reply to question ``key`` from ``asked``, once: the button it completes.
        A reply from someone else, or a second reply, takes nothing."""
        claim = (
            delete(TOKENS)
            .where(
                TOKENS.c.token == key[:64],
                TOKENS.c.surface == surface,
                TOKENS.c.asked == asked[:200],
            )
            .returning(TOKENS.c.run_id, TOKENS.c.action, TOKENS.c.step, TOKENS.c.chat)
        )
        async with self.engine.begin() as connection:
            row = (await connection.execute(claim)).first()
            if row is not None:
                return Answer.ACCEPTED, _button(row)
            other = await connection.execute(
                select(TOKENS.c.token).where(
                    TOKENS.c.token == key[:64],
                    TOKENS.c.surface == surface,
                    TOKENS.c.asked.is_not(None),
                )
            )
            return (Answer.NOT_YOURS if other.first() else Answer.NONE), None

    def _row(
        self, token: str, surface: str, chat: str, button: Button, asked: str | None
    ) -> dict[str, Any]:
        return {
            "token": token,
            "surface": surface,
            "chat": chat[:200],
            "run_id": button.run_id,
            "action": button.action.value,
            "step": button.step or "",
            "asked": asked,
            "created_at": self._now(),
        }


def _key(button: Button) -> tuple[int, str, str]:
    return button.run_id, button.action.value, button.step or ""


def _button(row: Any) -> Button:
    return Button(ButtonAction(row.action), row.run_id, row.step or None)
