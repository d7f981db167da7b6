"""The stored tables. Times are UTC; JSON columns hold params and audit details."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Text, UniqueConstraint
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

__all__ = [
    "AlertStateRow",
    "ApprovalMessageRow",
    "ApprovalRow",
    "AuditEventRow",
    "CallbackTokenRow",
    "OpenedFormRow",
    "ProcessedEventRow",
    "RunRow",
    "ScheduleFireRow",
    "ScheduleStateRow",
    "StepResultRow",
    "metadata",
    "run_duration",
    "utcnow",
]

metadata = SQLModel.metadata


def utcnow() -> datetime:
    return datetime.now(UTC)


def _deferred() -> SQLModelConfig:
    # Rows are built by the ORM and by Core statements, never validated, so pydantic's
    # validator and serializer for a table are built on first use (if ever) instead of at
    # import: ~10 ms of every start-up on a slow machine.
    return SQLModelConfig(defer_build=True)


def _ts(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index)
    )


class RunRow(SQLModel, table=True):
    model_config = _deferred()
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_status_heartbeat", "status", "heartbeat_at"),)

    id: int | None = Field(default=None, primary_key=True)
    playbook: str = Field(index=True, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=16)
    dry_run: bool = False
    requested_by: str = Field(max_length=200)
    requester_name: str = Field(default="", max_length=200)
    surface: str = Field(max_length=32)
    channel: str = Field(default="", max_length=200)
    channel_name: str = Field(default="", max_length=200)
    thread: str | None = Field(default=None, max_length=200)
    card_ref: str | None = Field(default=None, max_length=400)
    parent_run_id: int | None = Field(default=None, foreign_key="runs.id", index=True)
    parent_step: str | None = Field(default=None, max_length=64)
    owner: str | None = Field(default=None, max_length=200)
    heartbeat_at: datetime | None = _ts()
    estimate_seconds: float = 0.0
    estimate_cost_usd: float = 0.0
    needs_approval: bool = False
    expires_at: datetime | None = _ts()
    reminded_at: datetime | None = _ts()
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    version: int = 0
    created_at: datetime | None = _ts(nullable=False, index=True)
    started_at: datetime | None = _ts()
    finished_at: datetime | None = _ts()
    updated_at: datetime | None = _ts(nullable=False)


class StepResultRow(SQLModel, table=True):
    model_config = _deferred()
    __tablename__ = "step_results"
    __table_args__ = (UniqueConstraint("run_id", "phase", "step_id", name="uq_step_results_step"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    step_id: str = Field(max_length=64)
    phase: str = Field(default="main", max_length=16)
    position: int = 0
    action: str = Field(default="", max_length=64)
    status: str = Field(max_length=16)
    attempts: int = 0
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    output: str = Field(default="", sa_column=Column(Text, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    started_at: datetime | None = _ts()
    finished_at: datetime | None = _ts()
    duration_ms: int | None = None
    # A step waiting at an approval gate: when the wait ends, and whether a reminder went out.
    expires_at: datetime | None = _ts()
    reminded_at: datetime | None = _ts()


class ApprovalRow(SQLModel, table=True):
    model_config = _deferred()
    __tablename__ = "approvals"
    __table_args__ = (
        UniqueConstraint("run_id", "step_id", "actor", name="uq_approvals_one_per_person"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    step_id: str = Field(default="", max_length=64)
    actor: str = Field(max_length=200)
    actor_name: str = Field(default="", max_length=200)
    surface: str = Field(max_length=32)
    decision: str = Field(max_length=16)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    decided_at: datetime | None = _ts(nullable=False)


class ApprovalMessageRow(SQLModel, table=True):
    """A request for approval posted in a run's thread (the first, or a reminder): once the
    wait is over, whoever ends it edits the message to say how, without its buttons."""

    model_config = _deferred()
    __tablename__ = "approval_messages"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    step_id: str = Field(default="", max_length=64)  # "" for the run's own approval
    ref: str = Field(max_length=400)  # MessageRef.encode()
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    posted_at: datetime | None = _ts(nullable=False)
    closed_at: datetime | None = _ts()


class AuditEventRow(SQLModel, table=True):
    model_config = _deferred()
    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime | None = _ts(nullable=False, index=True)
    run_id: int | None = Field(default=None, foreign_key="runs.id", index=True)
    actor: str = Field(max_length=200)
    surface: str = Field(max_length=32)
    kind: str = Field(max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ProcessedEventRow(SQLModel, table=True):
    """Deliveries already handled (Slack event_id, Alertmanager notifications): retries are
    recognised across restarts and replicas."""

    model_config = _deferred()
    __tablename__ = "processed_events"

    key: str = Field(primary_key=True, max_length=300)
    seen_at: datetime | None = _ts(nullable=False, index=True)


class OpenedFormRow(SQLModel, table=True):
    """A form the bot opened for someone (a Slack modal): only its submission is accepted,
    by that person, once; a submission of a form the bot never opened is refused."""

    model_config = _deferred()
    __tablename__ = "opened_forms"

    form_id: str = Field(primary_key=True, max_length=200)  # the surface's own id: a view id
    surface: str = Field(max_length=32)
    opened_for: str = Field(max_length=200)  # Actor.key of who it was opened for
    kind: str = Field(max_length=64)  # what it asks: params, deny
    opened_at: datetime | None = _ts(nullable=False, index=True)


class CallbackTokenRow(SQLModel, table=True):
    """A short key standing for a button, where a surface's button carries only a few bytes
    (Telegram's ``callback_data``: 64): the click sends the key back, and the button is
    read here, never from the click. With ``asked`` set, the key names a question the bot
    put to one person (a Deny asking why), answered once, by them, by replying to it."""

    model_config = _deferred()
    __tablename__ = "callback_tokens"

    token: str = Field(primary_key=True, max_length=64)
    surface: str = Field(max_length=32)
    chat: str = Field(max_length=200)  # where the button was shown; a click elsewhere is refused
    # The run the button acts on; for Start (an alert's suggested playbook), the suggestion's
    # reference instead, which is why this is not a foreign key of runs.
    run_id: int = Field(index=True)
    action: str = Field(max_length=16)  # a ButtonAction value
    step: str = Field(default="", max_length=64)  # "" for the run's own button
    asked: str | None = Field(default=None, max_length=200)  # Actor.key of who was asked
    created_at: datetime | None = _ts(nullable=False, index=True)


# -- the scheduler (migration 0007) -------------------------------------------------------


class ScheduleStateRow(SQLModel, table=True):
    """Whether a schedule is paused, and by whom: every replica reads it before it fires."""

    model_config = _deferred()
    __tablename__ = "schedule_states"

    schedule_id: str = Field(primary_key=True, max_length=64)
    paused: bool = False
    changed_by: str = Field(default="", max_length=200)  # Actor.key
    changed_at: datetime | None = _ts()


class ScheduleFireRow(SQLModel, table=True):
    """One fire of a schedule. The unique key is what makes a fire happen once across
    replicas: only the process whose insert wins runs the job."""

    model_config = _deferred()
    __tablename__ = "schedule_fires"
    __table_args__ = (
        UniqueConstraint("schedule_id", "fire_time", "manual", name="uq_schedule_fires_once"),
    )

    id: int | None = Field(default=None, primary_key=True)
    schedule_id: str = Field(max_length=64)
    fire_time: datetime | None = _ts(nullable=False)
    manual: bool = False  # /schedule run: fire_time is when it was asked for
    requested_by: str = Field(default="", max_length=200)  # Actor.key of a manual fire
    owner: str = Field(default="", max_length=200)  # the process that ran it
    started_at: datetime | None = _ts(nullable=False)
    finished_at: datetime | None = _ts()
    outcome: str = Field(default="running", max_length=16)  # running | ok | failed
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    duration_ms: int | None = None
    # What the next fire reads back: a digest's metric values, for "change since".
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AlertStateRow(SQLModel, table=True):
    """Where an alert rule stands, so restarts and replicas agree when to post. Its ``id``
    is the short reference a suggested playbook's button carries."""

    model_config = _deferred()
    __tablename__ = "alert_states"
    __table_args__ = (UniqueConstraint("rule_id", name="uq_alert_states_rule"),)

    id: int | None = Field(default=None, primary_key=True)
    rule_id: str = Field(max_length=64)
    level: str = Field(default="unknown", max_length=16)
    bad: bool = False
    bad_since: datetime | None = _ts()
    last_posted_at: datetime | None = _ts()
    watermark: datetime | None = _ts()  # a rule over runs: the last run end it has seen
    version: int = 0
    updated_at: datetime | None = _ts(nullable=False)


class run_duration(FunctionElement[Any]):
    """How long a run ran (``finished_at - started_at``), as each database can index it:
    SQLite stores times as text, so in days through ``julianday``; PostgreSQL as an
    interval. Only compared and sorted (the slowest runs of a digest), never shown."""

    inherit_cache = True
    name = "run_duration"


@compiles(run_duration, "sqlite")
def _run_duration_sqlite(element: run_duration, compiler: Any, **kw: Any) -> str:
    finished, started = (compiler.process(c, **kw) for c in element.clauses)
    return f"julianday({finished}) - julianday({started})"


@compiles(run_duration)
def _run_duration(element: run_duration, compiler: Any, **kw: Any) -> str:
    finished, started = (compiler.process(c, **kw) for c in element.clauses)
    return f"({finished} - {started})"  # an index on an expression wants it in parentheses


_runs = metadata.tables[RunRow.__tablename__]
# What the digest counts by (one ordered pass, no sort) and lists by, and its slowest runs;
# every column it filters on is in it, so its tallies never read the table.
Index(
    "ix_runs_status_playbook_created",
    _runs.c.status,
    _runs.c.playbook,
    _runs.c.created_at,
    _runs.c.parent_run_id,
    _runs.c.needs_approval,
    _runs.c.dry_run,
)
Index("ix_runs_duration", run_duration(_runs.c.finished_at, _runs.c.started_at))
# `/playbook history NAME`, newest first, without sorting every run of the playbook.
Index("ix_runs_playbook_id", _runs.c.playbook, _runs.c.id)
