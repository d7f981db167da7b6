"""The Core tables and shared statements behind the store's hot paths.

Statements here are built once and shared by every caller: compiled once, and a group commit
(bot.db.batching) runs all the uses of one write as a single executemany. Reads go through
Core too: the ORM's identity map buys nothing for records copied into frozen dataclasses.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any, cast

from sqlalchemy import BindParameter, ColumnElement, Executable, bindparam, func, insert, update
from sqlalchemy import select as sa_select

from bot.db.tables import (
    ApprovalMessageRow,
    ApprovalRow,
    AuditEventRow,
    ProcessedEventRow,
    RunRow,
    StepResultRow,
    metadata,
)
from bot.lifecycle import TERMINAL, RunStatus

__all__ = [
    "APPROVALS",
    "APPROVAL_MESSAGES",
    "AUDIT",
    "AUDIT_INSERT",
    "CREATE_RUN",
    "GET_RUN",
    "NEW_RUN",
    "PROCESSED_EVENTS",
    "RUNS",
    "SET_CARD",
    "STEPS",
    "STEPS_OF",
    "audit_of",
    "children_of",
    "decisions_of",
    "first_delivery_claim",
    "step_upsert",
    "transition",
]

RUNS = metadata.tables[RunRow.__tablename__]
STEPS = metadata.tables[StepResultRow.__tablename__]
AUDIT = metadata.tables[AuditEventRow.__tablename__]
APPROVALS = metadata.tables[ApprovalRow.__tablename__]
APPROVAL_MESSAGES = metadata.tables[ApprovalMessageRow.__tablename__]
PROCESSED_EVENTS = metadata.tables[ProcessedEventRow.__tablename__]

GET_RUN = sa_select(RUNS).where(RUNS.c.id == bindparam("id"))
STEPS_OF = (
    sa_select(STEPS)
    .where(STEPS.c.run_id == bindparam("run"))
    .order_by(STEPS.c.phase.asc(), STEPS.c.position)  # "main" sorts before "rollback"
)
AUDIT_INSERT = insert(AUDIT)
# Rows come back in the order of their parameters, so a group commit can insert many at once.
CREATE_RUN = insert(RUNS).returning(*RUNS.c, sort_by_parameter_order=True)
NEW_RUN: dict[str, Any] = {
    column.name: getattr(column.default, "arg", None) for column in RUNS.c if column.name != "id"
}
"""Every column of a new run's row, at its default: each insert gives all of them, so those of
one batch share one statement. (Cheaper than building a RunRow to dump its values.)"""
SET_CARD = update(RUNS).where(RUNS.c.id == bindparam("run")).values(card_ref=bindparam("card_ref"))


@functools.lru_cache(maxsize=16)
def step_upsert(dialect: str, updated: tuple[str, ...]) -> Executable:
    """INSERT … ON CONFLICT (run, phase, step) DO UPDATE of the ``updated`` columns.

    Built once per shape: constructing ``excluded`` costs more than running the statement.
    sqlite and postgresql each have an ON CONFLICT insert of the same shape; each dialect's
    module is imported only by the database in use.
    """
    statement: Any = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert(STEPS)
    return cast(
        Executable,
        statement.on_conflict_do_update(
            index_elements=["run_id", "phase", "step_id"],
            set_={name: statement.excluded[name] for name in updated},
        ),
    )


@functools.lru_cache(maxsize=4)
def first_delivery_claim(dialect: str) -> Executable:
    """INSERT … ON CONFLICT (key) DO NOTHING RETURNING key into processed_events: a key
    comes back only if this insert recorded it. Parameters: ``key``, ``seen_at``. One
    statement serves every delivery a group commit records (bot.db.batching.Claim)."""
    statement: Any = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert(
        PROCESSED_EVENTS
    )
    return cast(
        Executable,
        statement.on_conflict_do_nothing(index_elements=["key"]).returning(PROCESSED_EVENTS.c.key),
    )


@functools.lru_cache(maxsize=64)
def transition(
    to: RunStatus, expected: tuple[RunStatus, ...], with_error: bool, held: bool = False
) -> Executable:
    """The compare-and-set of runs' status, ``UPDATE … WHERE id IN :ids AND status IN
    (expected) … RETURNING *``, built once per shape (there are a few dozen at most). One
    statement serves every run a group commit moves alike (bot.db.batching.CompareAndSet).
    With ``held``, only runs whose ``owner`` is ``held_by`` move.

    Building the statement per call cost more CPU than executing it: every column of the
    RETURNING clause is coerced and the whole tree hashed into a cache key each time.
    Parameters: ``ids``, ``now``, and ``owner`` (to RUNNING), ``error`` (``with_error``) and
    ``held_by`` (``held``).
    """
    now: BindParameter[Any] = bindparam("now")
    values: dict[str, Any] = {
        "status": to.value,
        "version": RUNS.c.version + 1,
        "updated_at": now,
    }
    if to is RunStatus.RUNNING:
        values |= {
            "started_at": func.coalesce(RUNS.c.started_at, now),
            "owner": bindparam("owner"),
            "heartbeat_at": now,
            "finished_at": None,
            "error": None,
        }
    if to in TERMINAL:
        values["finished_at"] = now
    if with_error:
        values["error"] = bindparam("error")
    where: list[ColumnElement[bool]] = [
        RUNS.c.id.in_(bindparam("ids", expanding=True)),
        RUNS.c.status.in_([s.value for s in expected]),
    ]
    if held:
        where.append(RUNS.c.owner == bindparam("held_by"))
    return update(RUNS).where(*where).values(**values).returning(*RUNS.c)


def children_of(run_id: int) -> Executable:
    """The sub-playbook runs a run started, oldest first."""
    return sa_select(RUNS).where(RUNS.c.parent_run_id == run_id).order_by(RUNS.c.id)


def decisions_of(run_id: int, step_id: str | None = None) -> Executable:
    """A run's decisions (only those of step gate ``step_id``, ``""`` the run's own)."""
    query = sa_select(APPROVALS).where(APPROVALS.c.run_id == run_id)
    if step_id is not None:
        query = query.where(APPROVALS.c.step_id == step_id)
    return query.order_by(APPROVALS.c.id)


def audit_of(run_id: int | None, limit: int) -> Executable:
    """The first ``limit`` audit events (of one run, if given), oldest first."""
    query = sa_select(AUDIT).order_by(AUDIT.c.id).limit(limit)
    if run_id is not None:
        query = query.where(AUDIT.c.run_id == run_id)
    return query
