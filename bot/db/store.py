"""The store: runs, step results, approval decisions and requests, deliveries and the audit
trail, one module per aggregate over one engine and one group commit (:mod:`bot.db.base`).

Every status change is one compare-and-set and its audit event is written in the same
transaction (:mod:`bot.db.runs`); transactions are short and never span I/O to a chat
platform or a playbook target.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import text

from bot.db.approvals import ApprovalRows, RecordedDecision
from bot.db.audit import AuditRows
from bot.db.base import no_redaction
from bot.db.connect import create_engine
from bot.db.deliveries import DeliveryRows
from bot.db.messages import ApprovalMessageRows
from bot.db.migrate import upgrade
from bot.db.runs import RunReport, RunRows
from bot.db.steps import StepRows
from bot.db.tables import utcnow

__all__ = ["RecordedDecision", "RunReport", "Store"]


class Store(RunRows, StepRows, ApprovalRows, ApprovalMessageRows, DeliveryRows, AuditRows):
    """Async access to the database. Build with :meth:`open`; close with :meth:`close`."""

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        migrate: bool = True,
        clock: Callable[[], datetime] = utcnow,
        redact: Callable[[str], str] = no_redaction,
    ) -> Store:
        engine = create_engine(url)
        if migrate:
            await upgrade(engine)
        return cls(engine, clock=clock, redact=redact)

    async def close(self) -> None:
        await self._writes.close()
        await self.engine.dispose()

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
