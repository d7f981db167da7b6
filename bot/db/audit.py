"""The audit trail: who did what, through which surface, when."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.db.base import StoreBase
from bot.db.records import AuditRecord
from bot.db.statements import (
    audit_of,
)

__all__ = ["AuditRows"]


class AuditRows(StoreBase):
    """The audit_events table."""

    async def audit(
        self,
        *,
        actor: str,
        surface: str,
        kind: str,
        run_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        await self._writes.execute(
            self._audit_insert(
                run_id=run_id, actor=actor, surface=surface, kind=kind, detail=detail or {}
            )
        )

    async def audit_events(
        self, *, run_id: int | None = None, limit: int = 500
    ) -> list[AuditRecord]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(audit_of(run_id, limit))
            return [AuditRecord.from_row(r) for r in rows]
