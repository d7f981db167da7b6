"""Deliveries already handled and forms the bot opened: what makes input count once."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult

from bot.db.base import StoreBase
from bot.db.batching import Claim
from bot.db.statements import first_delivery_claim
from bot.db.tables import (
    OpenedFormRow,
    ProcessedEventRow,
)

__all__ = ["DeliveryRows"]


class DeliveryRows(StoreBase):
    """The processed_events and opened_forms tables."""

    async def first_delivery(self, key: str) -> bool:
        """True the first time ``key`` is seen (by any replica); False for a retry.

        Every update and Slack request asks this before anything else, so a burst of them
        shares one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` in the group commit
        (bot.db.batching.Claim) instead of a transaction each; the answer comes once the
        key is committed."""
        stored = key[:300]
        claim = first_delivery_claim(self.engine.dialect.name)
        return await self._writes.claim(
            Claim(claim, stored, {"key": stored, "seen_at": self._now()})
        )

    async def forget_deliveries(self, *, seen_before: datetime) -> int:
        """Drop the :meth:`first_delivery` keys first seen before ``seen_before`` (retries
        come within minutes; the table must not grow forever), and forms opened before it
        and never sent. Returns how many keys went."""
        table = ProcessedEventRow.metadata.tables["processed_events"]
        forms = OpenedFormRow.metadata.tables["opened_forms"]
        statement = table.delete().where(table.c.seen_at < seen_before)
        async with self._sessions.begin() as session:
            result = cast(CursorResult[Any], await session.exec(statement))
            await session.exec(forms.delete().where(forms.c.opened_at < seen_before))
        return int(result.rowcount)

    async def record_form(self, form_id: str, *, surface: str, opened_for: str, kind: str) -> None:
        """Remember a form the bot opened for ``opened_for`` (an Actor key)."""
        async with self._sessions.begin() as session:
            session.add(
                OpenedFormRow(
                    form_id=form_id[:200],
                    surface=surface,
                    opened_for=opened_for[:200],
                    kind=kind,
                    opened_at=self._now(),
                )
            )

    async def claim_form(self, form_id: str, *, surface: str, opened_for: str, kind: str) -> bool:
        """True once, for a form the bot opened for ``opened_for``: its submission is
        accepted; False for a form it never opened (or for someone else), or a second time."""
        table = OpenedFormRow.metadata.tables["opened_forms"]
        statement = table.delete().where(
            table.c.form_id == form_id[:200],
            table.c.surface == surface,
            table.c.opened_for == opened_for[:200],
            table.c.kind == kind,
        )
        async with self._sessions.begin() as session:
            result = cast(CursorResult[Any], await session.exec(statement))
        return int(result.rowcount) == 1
