"""The store: runs, step results, approval decisions and the audit log.

Every status change is one compare-and-set (``UPDATE … WHERE status IN (expected)``) and
its audit event is written in the same transaction, so two clicks, two replicas or a
retried request can never both win, and no transition goes unaudited. Transactions are
short and never span I/O to a chat platform or a playbook target.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Executable, Row, func, insert, or_, text, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import col

from bot.chat import Actor, MessageRef, Place
from bot.db.batching import CompareAndSet, InsertReturning, Statement, WriteBatcher
from bot.db.engine import create_engine, session_factory
from bot.db.ids import in_id_range
from bot.db.migrate import upgrade
from bot.db.records import ApprovalRecord, AuditRecord, RunRecord, StepRecord
from bot.db.statements import (
    APPROVAL_MESSAGES,
    APPROVALS,
    AUDIT,
    AUDIT_INSERT,
    CREATE_RUN,
    GET_RUN,
    NEW_RUN,
    RUNS,
    SET_CARD,
    STEPS,
    STEPS_OF,
    step_upsert,
)
from bot.db.statements import transition as transition_statement
from bot.db.tables import (
    OpenedFormRow,
    ProcessedEventRow,
    RunRow,
    StepResultRow,
    utcnow,
)
from bot.lifecycle import RunStatus, StepStatus, can_transition

__all__ = ["RunReport", "Store"]

SYSTEM = "system"


def _identity(text: str) -> str:
    return text


@dataclass(frozen=True)
class RunReport:
    """Everything ``/playbook status`` shows of a run, read at one moment."""

    run: RunRecord
    steps: list[StepRecord]
    decisions: list[ApprovalRecord]
    audit: list[AuditRecord]
    children: list[RunRecord]


@dataclass(frozen=True)
class RecordedDecision:
    """What :meth:`Store.record_decision` did; ``approval`` is None when it was refused."""

    approval: ApprovalRecord | None
    decisions: tuple[ApprovalRecord, ...] = ()  # the wait's decisions, as they now stand
    run: RunRecord | None = None  # the run, when this decision ended its wait
    already_decided: bool = False  # refused: this person had decided before


class Store:
    """Async access to the database. Build with :meth:`open`; close with :meth:`close`."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Callable[[], datetime] = utcnow,
        redact: Callable[[str], str] = _identity,
    ) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        self._writes = WriteBatcher(engine)
        self._now = clock
        self._redact = redact

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        migrate: bool = True,
        clock: Callable[[], datetime] = utcnow,
        redact: Callable[[str], str] = _identity,
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

    # -- runs ---------------------------------------------------------------------------

    async def create_run(
        self,
        *,
        playbook: str,
        params: Mapping[str, Any],
        actor: Actor,
        place: Place,
        dry_run: bool = False,
        estimate_seconds: float = 0.0,
        estimate_cost_usd: float = 0.0,
        needs_approval: bool = False,
        expires_at: datetime | None = None,
        parent_run_id: int | None = None,
        parent_step: str | None = None,
    ) -> RunRecord:
        now = self._now()
        values = NEW_RUN | {
            "playbook": playbook,
            "params": dict(params),
            "status": RunStatus.PENDING.value,
            "dry_run": dry_run,
            "requested_by": actor.key,
            "requester_name": actor.display,
            "surface": place.surface,
            "channel": place.channel,
            "channel_name": place.name,
            "thread": place.thread,
            "parent_run_id": parent_run_id,
            "parent_step": parent_step,
            "estimate_seconds": estimate_seconds,
            "estimate_cost_usd": estimate_cost_usd,
            "needs_approval": needs_approval,
            "expires_at": expires_at,
            "created_at": now,
            "updated_at": now,
        }
        _, audit = self._audit_insert(
            run_id=None,
            actor=actor.key,
            surface=actor.surface,
            kind="run.created",
            detail={"playbook": playbook, "params": dict(params), "dry_run": dry_run},
        )

        def audited(inserted: Row[Any]) -> list[Statement]:
            return [(AUDIT_INSERT, {**audit, "run_id": inserted.id})]

        inserted = await self._writes.insert(InsertReturning(CREATE_RUN, values, audited))
        return RunRecord.from_row(inserted)

    async def transition(
        self,
        run_id: int,
        *,
        expected: Collection[RunStatus],
        to: RunStatus,
        actor: str,
        surface: str,
        detail: Mapping[str, Any] | None = None,
        owner: str | None = None,
        error: str | None = None,
        held_by: str | None = None,
    ) -> RunRecord | None:
        """Move the run to ``to`` if it is in one of ``expected`` (and, with ``held_by``,
        still owned by that process); None if another change won."""
        for current in expected:
            if not can_transition(current, to):
                raise ValueError(f"a run cannot go from {current} to {to}")
        statement = transition_statement(
            to, tuple(sorted(set(expected))), error is not None, held_by is not None
        )
        shared: dict[str, Any] = {}
        if to is RunStatus.RUNNING:
            shared["owner"] = owner
        if held_by is not None:
            shared["held_by"] = held_by
        if error is not None:
            shared["error"] = self._redact(error)
        audit = self._audit_insert(
            run_id=run_id,
            actor=actor,
            surface=surface,
            kind=f"run.{to.value}",
            detail={**(detail or {}), **({"error": error} if error else {})},
        )
        row = await self._writes.compare_and_set(
            CompareAndSet(
                statement,
                run_id,
                shared=tuple(sorted(shared.items())),
                stamp=("now", self._now()),
                then=(audit,),
            )
        )
        return RunRecord.from_row(row) if row is not None else None  # None: another won

    async def set_card(self, run_id: int, ref: MessageRef) -> None:
        await self._writes.execute((SET_CARD, {"run": run_id, "card_ref": ref.encode()}))

    async def get_run(self, run_id: int) -> RunRecord | None:
        if not in_id_range(run_id):  # the database would refuse the query, not miss
            return None
        async with self.engine.connect() as connection:
            row = (await connection.execute(GET_RUN, {"id": run_id})).one_or_none()
            return RunRecord.from_row(row) if row else None

    async def statuses(self, run_ids: Collection[int]) -> dict[int, RunStatus]:
        """The status of each of ``run_ids``, in one query."""
        if not run_ids:
            return {}
        query = sa_select(RUNS.c.id, RUNS.c.status).where(RUNS.c.id.in_(list(run_ids)))
        async with self.engine.connect() as connection:
            return {row.id: RunStatus(row.status) for row in await connection.execute(query)}

    async def list_runs(
        self,
        *,
        playbook: str | None = None,
        statuses: Collection[RunStatus] | None = None,
        limit: int = 10,
        top_level_only: bool = True,
    ) -> list[RunRecord]:
        """Newest first."""
        query = sa_select(RUNS).order_by(RUNS.c.id.desc()).limit(limit)
        if playbook is not None:
            query = query.where(RUNS.c.playbook == playbook)
        if statuses is not None:
            query = query.where(RUNS.c.status.in_([s.value for s in statuses]))
        if top_level_only:
            query = query.where(RUNS.c.parent_run_id.is_(None))
        async with self.engine.connect() as connection:
            return [RunRecord.from_row(r) for r in await connection.execute(query)]

    async def run_report(self, run_id: int, *, audit_limit: int = 500) -> RunReport | None:
        """The run, its steps, decisions, audit events and child runs as of one moment, so
        a status never says `running` above an audit trail that ends in `run.failed`.

        On one connection: on SQLite (one connection for everything) no write comes in
        between; on PostgreSQL the reads share a REPEATABLE READ snapshot.
        """
        if not in_id_range(run_id):  # the database would refuse the query, not miss
            return None
        async with self.engine.connect() as connection:
            if self.engine.dialect.name == "postgresql":
                await connection.execution_options(isolation_level="REPEATABLE READ")
            row = (await connection.execute(GET_RUN, {"id": run_id})).one_or_none()
            if row is None:
                return None
            steps = await connection.execute(STEPS_OF, {"run": run_id})
            decisions = await connection.execute(_decisions_query(run_id))
            audit = await connection.execute(_audit_query(run_id, audit_limit))
            children = await connection.execute(_children_query(run_id))
            return RunReport(
                run=RunRecord.from_row(row),
                steps=[StepRecord.from_row(r) for r in steps],
                decisions=[ApprovalRecord.from_row(r) for r in decisions],
                audit=[AuditRecord.from_row(r) for r in audit],
                children=[RunRecord.from_row(r) for r in children],
            )

    async def running_elsewhere(self, owner: str) -> list[RunRecord]:
        """Runs marked running by any process but ``owner`` (or by none): those whose owner a
        sweep must judge. A replica's own runs are never orphaned, so a thousand of them
        executing here cost the sweep nothing."""
        query = (
            sa_select(RUNS)
            .where(
                RUNS.c.status == RunStatus.RUNNING.value,
                or_(RUNS.c.owner.is_(None), RUNS.c.owner != owner),
            )
            .order_by(RUNS.c.id)
        )
        async with self.engine.connect() as connection:
            return [RunRecord.from_row(r) for r in await connection.execute(query)]

    async def awaiting_approval(self) -> list[RunRecord]:
        """Pending runs that wait for approvals within a window (to expire or remind): not
        the cards nobody pressed Run on, however many there are."""
        query = (
            sa_select(RUNS)
            .where(
                RUNS.c.status == RunStatus.PENDING.value,
                RUNS.c.needs_approval.is_(True),
                RUNS.c.expires_at.is_not(None),
            )
            .order_by(RUNS.c.id)
        )
        async with self.engine.connect() as connection:
            return [RunRecord.from_row(r) for r in await connection.execute(query)]

    async def child_runs(self, run_id: int) -> list[RunRecord]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(_children_query(run_id))
            return [RunRecord.from_row(r) for r in rows]

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

    async def heartbeat(self, owner: str) -> None:
        """Mark every run this replica is executing as alive."""
        async with self._sessions.begin() as session:
            await session.exec(
                update(RunRow)
                .where(
                    col(RunRow.owner) == owner,
                    col(RunRow.status) == RunStatus.RUNNING.value,
                )
                .values(heartbeat_at=self._now())
            )

    # -- steps --------------------------------------------------------------------------

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

    # -- approvals ----------------------------------------------------------------------

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

        def settled(decisions: Collection[ApprovalRecord]) -> bool:
            approvals = sum(1 for d in decisions if d.decision == "approve")
            return any(d.decision == "deny" for d in decisions) or approvals >= needed

        async def settle_run(
            connection: AsyncConnection, decisions: Collection[ApprovalRecord]
        ) -> RunRecord:
            """The run's row is locked and pending: move it as ``decisions`` settle it."""
            denied = [d for d in decisions if d.decision == "deny"]
            values: dict[str, Any] = {"version": RUNS.c.version + 1, "updated_at": now}
            detail: dict[str, Any]
            if denied:
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
            if settled(earlier):
                return RecordedDecision(None, earlier)
            inserted = (
                await connection.execute(insert(APPROVALS).values(**row).returning(*APPROVALS.c))
            ).one()
            await connection.execute(*audit)
            recorded = ApprovalRecord.from_row(inserted)
            decisions = (*earlier, recorded)
            if step_id or not settled(decisions):
                return RecordedDecision(recorded, decisions)
            moved = await settle_run(connection, decisions)
            return RecordedDecision(recorded, decisions, moved)

        return await self._writes.submit(write)

    async def decisions(self, run_id: int, step_id: str | None = None) -> list[ApprovalRecord]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(_decisions_query(run_id, step_id))
            return [ApprovalRecord.from_row(r) for r in rows]

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

    # -- deliveries ---------------------------------------------------------------------

    async def first_delivery(self, key: str) -> bool:
        """True the first time ``key`` is seen (by any replica); False for a retry."""
        try:
            async with self._sessions.begin() as session:
                session.add(ProcessedEventRow(key=key[:300], seen_at=self._now()))
        except IntegrityError:
            return False
        return True

    # -- forms --------------------------------------------------------------------------

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

    # -- audit --------------------------------------------------------------------------

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
            rows = await connection.execute(_audit_query(run_id, limit))
            return [AuditRecord.from_row(r) for r in rows]

    def _audit_insert(
        self,
        *,
        run_id: int | None,
        actor: str,
        surface: str,
        kind: str,
        detail: Mapping[str, Any],
    ) -> Statement:
        """The INSERT of one audit event (Core: far cheaper than the ORM on hot paths)."""
        return AUDIT_INSERT, {
            "at": self._now(),
            "run_id": run_id,
            "actor": actor,
            "surface": surface,
            "kind": kind,
            "detail": _redact_tree(dict(detail), self._redact),
        }

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


def _children_query(run_id: int) -> Executable:
    return sa_select(RUNS).where(RUNS.c.parent_run_id == run_id).order_by(RUNS.c.id)


def _decisions_query(run_id: int, step_id: str | None = None) -> Executable:
    query = sa_select(APPROVALS).where(APPROVALS.c.run_id == run_id)
    if step_id is not None:
        query = query.where(APPROVALS.c.step_id == step_id)
    return query.order_by(APPROVALS.c.id)


def _audit_query(run_id: int | None, limit: int) -> Executable:
    query = sa_select(AUDIT).order_by(AUDIT.c.id).limit(limit)
    if run_id is not None:
        query = query.where(AUDIT.c.run_id == run_id)
    return query


def _redact_tree(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_tree(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_tree(v, redact) for v in value]
    return value
