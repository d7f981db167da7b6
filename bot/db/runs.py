"""Runs: created, moved by compare-and-set (each change audited in its transaction), read.

Every status change is one ``UPDATE … WHERE status IN (expected)`` and its audit event is
written in the same transaction, so two clicks, two replicas or a retried request can never
both win, and no transition goes unaudited.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import col

from bot.chat import Actor, MessageRef, Place
from bot.db.base import StoreBase
from bot.db.batching import CompareAndSet, InsertReturning, Statement
from bot.db.ids import in_id_range
from bot.db.records import ApprovalRecord, AuditRecord, RunRecord, StepRecord
from bot.db.statements import (
    AUDIT_INSERT,
    CREATE_RUN,
    GET_RUN,
    NEW_RUN,
    RUNS,
    SET_CARD,
    STEPS_OF,
    audit_of,
    children_of,
    decisions_of,
)
from bot.db.statements import transition as transition_statement
from bot.db.tables import (
    RunRow,
)
from bot.lifecycle import RunStatus, can_transition

__all__ = ["RunReport", "RunRows"]


@dataclass(frozen=True)
class RunReport:
    """Everything ``/playbook status`` shows of a run, read at one moment."""

    run: RunRecord
    steps: list[StepRecord]
    decisions: list[ApprovalRecord]
    audit: list[AuditRecord]
    children: list[RunRecord]


class RunRows(StoreBase):
    """The runs table: creating, moving and reading runs."""

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
        values = self._new_run(playbook, params, actor, place) | {
            "dry_run": dry_run,
            "parent_run_id": parent_run_id,
            "parent_step": parent_step,
            "estimate_seconds": estimate_seconds,
            "estimate_cost_usd": estimate_cost_usd,
            "needs_approval": needs_approval,
            "expires_at": expires_at,
        }
        detail = {"playbook": playbook, "params": dict(params), "dry_run": dry_run}
        return await self._insert_run(values, actor, "run.created", detail)

    async def record_dry_run(
        self,
        *,
        playbook: str,
        params: Mapping[str, Any],
        actor: Actor,
        place: Place,
        plan: list[str],
        estimate_seconds: float = 0.0,
        estimate_cost_usd: float = 0.0,
    ) -> RunRecord:
        """Record a dry run in the history: who asked, with which params, and the plan they
        were shown (in its audit event). Nothing ran, so it is ended from the start: its
        status is ``succeeded`` (the plan was made) with ``dry_run`` set."""
        values = self._new_run(playbook, params, actor, place) | {
            "status": RunStatus.SUCCEEDED.value,
            "dry_run": True,
            "estimate_seconds": estimate_seconds,
            "estimate_cost_usd": estimate_cost_usd,
            "finished_at": self._now(),
        }
        detail = {"playbook": playbook, "params": dict(params), "plan": plan}
        return await self._insert_run(values, actor, "run.dry_run", detail)

    def _new_run(
        self, playbook: str, params: Mapping[str, Any], actor: Actor, place: Place
    ) -> dict[str, Any]:
        """A new run's row: its columns' defaults, who asked for it, where."""
        now = self._now()
        return NEW_RUN | {
            "playbook": playbook,
            "params": dict(params),
            "status": RunStatus.PENDING.value,
            "requested_by": actor.key,
            "requester_name": actor.display,
            "surface": place.surface,
            "channel": place.channel,
            "channel_name": place.name,
            "thread": place.thread,
            "created_at": now,
            "updated_at": now,
        }

    async def _insert_run(
        self, values: dict[str, Any], actor: Actor, kind: str, detail: Mapping[str, Any]
    ) -> RunRecord:
        """Insert the run (in a group commit) with its audit event, which names it."""
        _, audit = self._audit_insert(
            run_id=None, actor=actor.key, surface=actor.surface, kind=kind, detail=detail
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
            decisions = await connection.execute(decisions_of(run_id))
            audit = await connection.execute(audit_of(run_id, audit_limit))
            children = await connection.execute(children_of(run_id))
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

    async def pending_deadlines(self, before: datetime) -> list[RunRecord]:
        """Pending runs whose window (for approvals, or for someone to press Run) closes
        before ``before``, soonest first: what may expire or be reminded of soon, not every
        card waiting for the day."""
        query = (
            sa_select(RUNS)
            .where(
                RUNS.c.status == RunStatus.PENDING.value,
                RUNS.c.expires_at.is_not(None),
                RUNS.c.expires_at <= before,
            )
            .order_by(RUNS.c.expires_at, RUNS.c.id)
        )
        async with self.engine.connect() as connection:
            return [RunRecord.from_row(r) for r in await connection.execute(query)]

    async def child_runs(self, run_id: int) -> list[RunRecord]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(children_of(run_id))
            return [RunRecord.from_row(r) for r in rows]

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
