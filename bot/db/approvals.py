"""Approval waits and decisions: a run's own and its step gates'.

A decision counts only while its wait is open, and the one that settles a run's wait moves
the run in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, func, insert, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from bot.chat import Actor
from bot.db.base import StoreBase
from bot.db.records import ApprovalRecord, RunRecord
from bot.db.statements import (
    APPROVALS,
    RUNS,
    STEPS,
    decisions_of,
)
from bot.db.tables import (
    RunRow,
    StepResultRow,
)
from bot.lifecycle import RunStatus, StepStatus
from bot.policy import DENY, tally

__all__ = ["ApprovalRows", "RecordedDecision"]


@dataclass(frozen=True)
class RecordedDecision:
    """What :meth:`ApprovalRows.record_decision` did; ``approval`` is None when it was
    refused."""

    approval: ApprovalRecord | None
    decisions: tuple[ApprovalRecord, ...] = ()  # the wait's decisions, as they now stand
    run: RunRecord | None = None  # the run, when this decision ended its wait
    already_decided: bool = False  # refused: this person had decided before


class ApprovalRows(StoreBase):
    """The approvals table, and the waits it decides (reminders, gate windows)."""

    async def mark_reminded(self, run_id: int, step_id: str | None = None) -> bool:
        """Claim the one reminder of an approval wait; True for exactly one caller."""
        if step_id is None:
            statement = (
                update(RunRow)
                .where(col(RunRow.id) == run_id, col(RunRow.reminded_at).is_(None))
                .values(reminded_at=self._now())
            )
        else:
            statement = (
                update(StepResultRow)
                .where(
                    col(StepResultRow.run_id) == run_id,
                    col(StepResultRow.step_id) == step_id,
                    col(StepResultRow.phase) == "main",
                    col(StepResultRow.reminded_at).is_(None),
                )
                .values(reminded_at=self._now())
            )
        async with self._sessions.begin() as session:
            result = cast(CursorResult[Any], await session.exec(statement))
            return bool(result.rowcount == 1)

    async def end_gate_wait(self, run_id: int, step_id: str) -> list[ApprovalRecord]:
        """Stop a step gate's wait for decisions; the step's decisions as they then stand.

        Takes the run's row lock as :meth:`record_decision` does, so each decision either
        committed before (and is returned) or comes after and is refused, the step no longer
        waiting: a gate that expires never drops a decision that was recorded as counted.
        """
        lock = (
            update(RUNS)
            .where(RUNS.c.id == run_id)
            .values(version=RUNS.c.version)  # changes nothing
            .returning(RUNS.c.id)
        )
        stop_waiting = (
            update(STEPS)
            .where(
                STEPS.c.run_id == run_id,
                STEPS.c.phase == "main",
                STEPS.c.step_id == step_id,
                STEPS.c.status == StepStatus.WAITING.value,
            )
            .values(status=StepStatus.RUNNING.value)
        )
        query = (
            sa_select(APPROVALS)
            .where(APPROVALS.c.run_id == run_id, APPROVALS.c.step_id == step_id)
            .order_by(APPROVALS.c.id)
        )

        async def write(connection: AsyncConnection) -> list[ApprovalRecord]:
            await connection.execute(lock)
            await connection.execute(stop_waiting)
            return [ApprovalRecord.from_row(r) for r in await connection.execute(query)]

        return await self._writes.submit(write)

    async def record_decision(
        self,
        *,
        run_id: int,
        step_id: str,
        actor: Actor,
        decision: str,
        reason: str = "",
        needed: int = 1,
        owner: str | None = None,
    ) -> RecordedDecision:
        """Store one person's decision (``approve`` or ``deny``) while it can still count.

        A decision counts only while the run (``step_id`` empty: pending approval) or its
        step gate (the run running, the step waiting) still waits for one: before its
        ``expires_at``, and before earlier decisions settled it (a deny, or ``needed``
        approvals). Anything else is refused and writes nothing, so the decisions and the
        audit trail hold exactly the decisions that took part. A person counts once.

        A run-level decision that settles the wait moves the run to ``denied``, or to
        ``running`` owned by ``owner``, in the same transaction. The run's row is locked
        first, so decisions on one run are taken one at a time, from every replica.
        """
        now = self._now()
        reason = self._redact(reason)
        if step_id:
            lock = update(RUNS).where(RUNS.c.id == run_id, RUNS.c.status == RunStatus.RUNNING.value)
        else:
            lock = update(RUNS).where(
                RUNS.c.id == run_id,
                RUNS.c.status == RunStatus.PENDING.value,
                RUNS.c.needs_approval.is_(True),
                or_(RUNS.c.expires_at.is_(None), RUNS.c.expires_at > now),
            )
        lock = lock.values(version=RUNS.c.version).returning(RUNS.c.id)  # changes nothing
        gate_open = sa_select(STEPS.c.id).where(
            STEPS.c.run_id == run_id,
            STEPS.c.phase == "main",
            STEPS.c.step_id == step_id,
            STEPS.c.status == StepStatus.WAITING.value,
            or_(STEPS.c.expires_at.is_(None), STEPS.c.expires_at > now),
        )
        earlier_query = (
            sa_select(APPROVALS)
            .where(APPROVALS.c.run_id == run_id, APPROVALS.c.step_id == step_id)
            .order_by(APPROVALS.c.id)
        )
        row = {
            "run_id": run_id,
            "step_id": step_id,
            "actor": actor.key,
            "actor_name": actor.display,
            "surface": actor.surface,
            "decision": decision,
            "reason": reason,
            "decided_at": now,
        }
        audit = self._audit_insert(
            run_id=run_id,
            actor=actor.key,
            surface=actor.surface,
            kind=f"approval.{decision}",
            detail={"step": step_id or None, "reason": reason},
        )

        async def settle_run(
            connection: AsyncConnection, decisions: Sequence[ApprovalRecord]
        ) -> RunRecord:
            """The run's row is locked and pending: move it as ``decisions`` settle it."""
            state = tally(decisions, needed)
            denied = [d for d in decisions if d.decision == DENY]
            values: dict[str, Any] = {"version": RUNS.c.version + 1, "updated_at": now}
            detail: dict[str, Any]
            if state.denied:
                to = RunStatus.DENIED
                values |= {"status": to.value, "finished_at": now}
                detail = {"reason": denied[0].reason} if denied[0].reason else {}
            else:
                to = RunStatus.RUNNING
                values |= {
                    "status": to.value,
                    "started_at": func.coalesce(RUNS.c.started_at, now),
                    "owner": owner,
                    "heartbeat_at": now,
                    "finished_at": None,
                    "error": None,
                }
                detail = {"approved_by": [d.actor_name or d.actor for d in decisions]}
            moved = update(RUNS).where(RUNS.c.id == run_id).values(**values).returning(*RUNS.c)
            row = (await connection.execute(moved)).one()
            await connection.execute(
                *self._audit_insert(
                    run_id=run_id,
                    actor=actor.key,
                    surface=actor.surface,
                    kind=f"run.{to.value}",
                    detail=detail,
                )
            )
            return RunRecord.from_row(row)

        async def write(connection: AsyncConnection) -> RecordedDecision:
            if (await connection.execute(lock)).one_or_none() is None:
                return RecordedDecision(None)
            if step_id and (await connection.execute(gate_open)).one_or_none() is None:
                return RecordedDecision(None)
            earlier = tuple(
                ApprovalRecord.from_row(r) for r in await connection.execute(earlier_query)
            )
            if any(d.actor == actor.key for d in earlier):
                return RecordedDecision(None, earlier, already_decided=True)
            if tally(earlier, needed).settled:
                return RecordedDecision(None, earlier)
            inserted = (
                await connection.execute(insert(APPROVALS).values(**row).returning(*APPROVALS.c))
            ).one()
            await connection.execute(*audit)
            recorded = ApprovalRecord.from_row(inserted)
            decisions = (*earlier, recorded)
            if step_id or not tally(decisions, needed).settled:
                return RecordedDecision(recorded, decisions)
            moved = await settle_run(connection, decisions)
            return RecordedDecision(recorded, decisions, moved)

        return await self._writes.submit(write)

    async def decisions(self, run_id: int, step_id: str | None = None) -> list[ApprovalRecord]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(decisions_of(run_id, step_id))
            return [ApprovalRecord.from_row(r) for r in rows]
