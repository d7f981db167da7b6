"""Step results: each step's start and end, and closing the steps a stopped run left open."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from bot.db.base import StoreBase
from bot.db.batching import Statement
from bot.db.records import StepRecord
from bot.db.statements import (
    STEPS_OF,
    step_upsert,
)
from bot.db.tables import (
    StepResultRow,
)
from bot.lifecycle import SYSTEM, StepStatus

__all__ = ["StepRows"]


class StepRows(StoreBase):
    """The step_results table."""

    async def start_step(
        self,
        *,
        run_id: int,
        step_id: str,
        phase: str,
        position: int,
        action: str,
        actor: str,
        status: StepStatus = StepStatus.RUNNING,
        expires_at: datetime | None = None,
        keep_reminder: bool = False,
    ) -> datetime:
        """Record that a step began (or, WAITING, that it waits at an approval gate); returns
        when, for :meth:`finish_step`."""
        now = self._now()
        values: dict[str, Any] = {
            "position": position,
            "action": action,
            "status": status.value,
            "started_at": now,
            "finished_at": None,
            "duration_ms": None,
            "error": None,
        }
        if status is StepStatus.WAITING:
            values["expires_at"] = expires_at
            if not keep_reminder:
                values["reminded_at"] = None
        upsert = self._step_upsert(run_id, phase, step_id, values)
        # A pause for people is worth its own audit event; a step's start is not: its row
        # says it is running, and the event when it ends carries when it began.
        audit = (
            self._audit_insert(
                run_id=run_id,
                actor=actor,
                surface=SYSTEM,
                kind="step.waiting",
                detail={"step": step_id, "phase": phase, "action": action},
            )
            if status is StepStatus.WAITING
            else None
        )

        await self._writes.execute(upsert, *([audit] if audit is not None else []))
        return now

    async def wait_at_gate(
        self,
        *,
        run_id: int,
        step_id: str,
        position: int,
        action: str,
        expires_at: datetime,
        resumed: bool = False,
    ) -> datetime:
        """Record that a step waits for approval until ``expires_at``; returns since when.

        A ``resumed`` wait (the run was interrupted at this gate) keeps its reminder: one
        already sent before the restart is not sent again.
        """
        return await self.start_step(
            run_id=run_id,
            step_id=step_id,
            phase="main",
            position=position,
            action=action,
            actor=SYSTEM,
            status=StepStatus.WAITING,
            expires_at=expires_at,
            keep_reminder=resumed,
        )

    async def finish_step(
        self,
        *,
        run_id: int,
        step_id: str,
        phase: str,
        position: int,
        action: str,
        status: StepStatus,
        attempts: int,
        summary: str,
        output: str,
        error: str | None,
        actor: str,
        started_at: datetime | None = None,
    ) -> StepRecord:
        """Record how a step ended; ``started_at`` (when it began) gives its duration."""
        now = self._now()
        summary, output = self._redact(summary), self._redact(output)
        error = self._redact(error) if error is not None else None
        duration_ms = (
            int((now - started_at).total_seconds() * 1000) if started_at is not None else None
        )
        values: dict[str, Any] = {
            "position": position,
            "action": action,
            "status": status.value,
            "attempts": attempts,
            "summary": summary,
            "output": output,
            "error": error,
            "finished_at": now,
            "duration_ms": duration_ms,
        }
        if started_at is not None:
            values["started_at"] = started_at
        upsert = self._step_upsert(run_id, phase, step_id, values)
        audit = self._audit_insert(
            run_id=run_id,
            actor=actor,
            surface=SYSTEM,
            kind=f"step.{status.value}",
            detail={
                "step": step_id,
                "phase": phase,
                "action": action,
                "attempts": attempts,
                "duration_ms": duration_ms,
                "summary": summary,
                **({"error": error} if error else {}),
            },
        )

        await self._writes.execute(upsert, audit)
        return StepRecord(
            run_id=run_id,
            step_id=step_id,
            phase=phase,
            position=position,
            action=action,
            status=status,
            attempts=attempts,
            summary=summary,
            output=output,
            error=error,
            started_at=started_at,
            finished_at=now,
            duration_ms=duration_ms,
        )

    def _step_upsert(
        self, run_id: int, phase: str, step_id: str, values: dict[str, Any]
    ) -> Statement:
        """One INSERT … ON CONFLICT DO UPDATE (a resumed or gated step keeps its one row),
        as a statement and its parameters."""
        defaults = {"attempts": 0, "summary": "", "output": ""}
        row = {**defaults, **values, "run_id": run_id, "phase": phase, "step_id": step_id}
        return step_upsert(self.engine.dialect.name, tuple(sorted(values))), row

    async def steps(self, run_id: int) -> list[StepRecord]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(STEPS_OF, {"run": run_id})
            return [StepRecord.from_row(r) for r in rows]

    async def close_open_steps(self, run_id: int, *, summary: str, actor: str) -> list[StepRecord]:
        """Mark the run's steps still running or waiting as cancelled, with how long they
        ran, when the run stopped under them; returns the steps this call closed.

        Each step is closed only if it is still open, so whoever closes it first (the
        executor stopping, or a replica that stopped the run) writes its one audit event.
        """
        now = self._now()
        still_open = (StepStatus.RUNNING.value, StepStatus.WAITING.value)
        candidates = [s for s in await self.steps(run_id) if s.status.value in still_open]
        if not candidates:
            return []
        summary = self._redact(summary)

        async def write(connection: AsyncConnection) -> list[StepRecord]:
            closed = []
            for step in candidates:
                duration_ms = (
                    max(0, int((now - step.started_at).total_seconds() * 1000))
                    if step.started_at is not None
                    else None
                )
                attempts = 1 if step.status is StepStatus.RUNNING else step.attempts
                result = await connection.execute(
                    update(StepResultRow)
                    .where(
                        col(StepResultRow.run_id) == run_id,
                        col(StepResultRow.phase) == step.phase,
                        col(StepResultRow.step_id) == step.step_id,
                        col(StepResultRow.status).in_(still_open),
                    )
                    .values(
                        status=StepStatus.CANCELLED.value,
                        attempts=attempts,
                        summary=summary,
                        finished_at=now,
                        duration_ms=duration_ms,
                    )
                )
                if result.rowcount != 1:
                    continue  # closed meanwhile by whoever got there first
                await connection.execute(
                    *self._audit_insert(
                        run_id=run_id,
                        actor=actor,
                        surface=SYSTEM,
                        kind=f"step.{StepStatus.CANCELLED.value}",
                        detail={
                            "step": step.step_id,
                            "phase": step.phase,
                            "action": step.action,
                            "attempts": attempts,
                            "duration_ms": duration_ms,
                            "summary": summary,
                        },
                    )
                )
                closed.append(
                    StepRecord(
                        run_id=run_id,
                        step_id=step.step_id,
                        phase=step.phase,
                        position=step.position,
                        action=step.action,
                        status=StepStatus.CANCELLED,
                        attempts=attempts,
                        summary=summary,
                        output=step.output,
                        error=step.error,
                        started_at=step.started_at,
                        finished_at=now,
                        duration_ms=duration_ms,
                    )
                )
            return closed

        return await self._writes.submit(write)
