"""Approval requests posted in threads, claimed once when their wait ends."""

from __future__ import annotations

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.chat import MessageRef
from bot.db.base import StoreBase
from bot.db.statements import (
    APPROVAL_MESSAGES,
)

__all__ = ["ApprovalMessageRows"]


class ApprovalMessageRows(StoreBase):
    """The approval_messages table."""

    async def record_approval_message(
        self, *, run_id: int, step_id: str, ref: MessageRef, text: str
    ) -> None:
        """Remember a posted request for approval (``step_id`` empty: the run's own), so that
        whoever ends the wait, on any replica, can say so on it."""
        row = {
            "run_id": run_id,
            "step_id": step_id,
            "ref": ref.encode(),
            "text": self._redact(text),
            "posted_at": self._now(),
        }
        await self._writes.execute((insert(APPROVAL_MESSAGES), row))

    async def close_approval_messages(
        self, run_id: int, step_id: str | None = None
    ) -> list[tuple[MessageRef, str]]:
        """Claim the posted requests not closed yet of one wait (``step_id``: a step gate's,
        ``""``: the run's own) or, with None, of all the run's waits, oldest first. Each
        (where it is, what it said) goes to exactly one caller, to be edited once."""
        where = [APPROVAL_MESSAGES.c.run_id == run_id, APPROVAL_MESSAGES.c.closed_at.is_(None)]
        if step_id is not None:
            where.append(APPROVAL_MESSAGES.c.step_id == step_id)
        close = (
            update(APPROVAL_MESSAGES)
            .where(*where)
            .values(closed_at=self._now())
            .returning(APPROVAL_MESSAGES.c.id, APPROVAL_MESSAGES.c.ref, APPROVAL_MESSAGES.c.text)
        )

        async def write(connection: AsyncConnection) -> list[tuple[MessageRef, str]]:
            rows = sorted(await connection.execute(close), key=lambda row: row.id)
            return [(MessageRef.decode(row.ref), row.text) for row in rows]

        return await self._writes.submit(write)
