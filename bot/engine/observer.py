"""What the executor tells the rest of the bot about a run as it moves on."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Protocol, TypeVar

import structlog

from bot.db.records import RunRecord, StepRecord
from playbooks.model import ApprovalPolicy

__all__ = ["RunObserver", "safely"]

log = structlog.get_logger(__name__)
T = TypeVar("T")


class RunObserver(Protocol):
    """Told about a run as it moves on; failures here never fail the run."""

    async def run_changed(self, run: RunRecord) -> None: ...

    def step_started(self, run: RunRecord, step: StepRecord) -> None: ...

    async def step_finished(self, run: RunRecord, step: StepRecord) -> None: ...

    async def step_retrying(
        self, run: RunRecord, step_id: str, attempt: int, of: int, reason: str
    ) -> None: ...

    async def rollback_started(self, run: RunRecord) -> None: ...

    async def notify(self, run: RunRecord, text: str, channel: str | None) -> str:
        """A notify step's message; raises (failing the step) when it cannot be posted."""
        ...

    async def approval_requested(
        self,
        run: RunRecord,
        step_id: str | None,
        policy: ApprovalPolicy,
        expires_at: datetime,
        *,
        reminder: bool = False,
    ) -> None: ...

    async def approval_closed(
        self, run: RunRecord, outcome: str, step_id: str | None, *, expired: bool = False
    ) -> None:
        """A wait for decisions ended (``outcome`` says how; ``expired``: nobody decided in
        time): its requests lose their buttons."""
        ...


async def safely(awaitable: Awaitable[T]) -> T | None:
    """Await a report to chat; a failure is logged, never raised into a run or a handler.

    Cancellation still propagates: it is how a run is stopped.
    """
    try:
        return await awaitable
    except Exception:
        log.warning("chat_update_failed", exc_info=True)
        return None
