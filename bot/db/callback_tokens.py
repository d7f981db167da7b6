"""Short keys standing for buttons, for surfaces whose buttons carry only a few bytes.

Telegram sends back at most 64 bytes of ``callback_data`` with a click, and a client can
send any bytes it likes there. So a button carries an opaque key and nothing else: the
click is resolved here, to the run, action and step the bot rendered, in the chat it
rendered it in. A button's key is an HMAC of what it stands for under a secret every
replica holds, so every rendering of it (a card edited in place, on any replica) has the
same key without asking the database first, and recording it is one insert that a
concurrent one of the same key simply joins; keys are written in shared transactions.

A key may also stand for a question the bot put to one person (a Deny asking why, with a
reply prompt): :meth:`CallbackTokens.ask` records it, and :meth:`CallbackTokens.answer`
accepts the reply once, from that person only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Insert, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.chat import Button, ButtonAction
from bot.db.batching import WriteBatcher
from bot.db.tables import CallbackTokenRow, metadata, utcnow

__all__ = ["TOKEN_CHARS", "Answer", "CallbackTokens", "Resolved"]

TOKENS = metadata.tables[CallbackTokenRow.__tablename__]
TOKEN_CHARS = 16
"""Length of a button's key: 96 bits of an HMAC-SHA256, URL-safe base64."""


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
    """The ``callback_tokens`` table, over the store's engine; ``secret`` makes the keys
    (the same on every replica)."""

    def __init__(
        self, engine: AsyncEngine, secret: bytes, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.engine = engine
        self._secret = secret
        self._now = clock
        self._writes = WriteBatcher(engine)
        self._record = _insert_new(engine.dialect.name)

    async def close(self) -> None:
        """Finish the writes already asked for."""
        await self._writes.close()

    def token(self, surface: str, chat: str, button: Button) -> str:
        """The key of ``button`` shown in ``chat`` (nothing is recorded)."""
        what = "|".join([surface, chat, str(button.run_id), button.action.value, button.step or ""])
        digest = hmac.new(self._secret, what.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:TOKEN_CHARS]

    async def record(self, surface: str, chat: str, buttons: Sequence[Button]) -> list[str]:
        """The key of each of ``buttons`` shown in ``chat``, recorded so a click resolves
        it (a key recorded before stays as it was)."""
        tokens = [self.token(surface, chat, button) for button in buttons]
        if buttons:
            rows = [
                self._row(token, surface, chat, button, None)
                for token, button in zip(tokens, buttons, strict=True)
            ]
            await self._writes.execute(*((self._record, row) for row in rows))
        return tokens

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


def _insert_new(dialect: str) -> Insert:
    """An INSERT that leaves a key already recorded as it is (a replica got there first)."""
    if dialect == "postgresql":
        return postgresql.insert(TOKENS).on_conflict_do_nothing(index_elements=["token"])
    if dialect == "sqlite":
        return sqlite.insert(TOKENS).on_conflict_do_nothing(index_elements=["token"])
    return insert(TOKENS)


def _button(row: Any) -> Button:
    return Button(ButtonAction(row.action), row.run_id, row.step or None)
