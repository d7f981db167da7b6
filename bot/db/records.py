"""Plain, immutable views of stored rows: what the rest of the core reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.chat import MessageRef, Place
from bot.lifecycle import RunStatus, StepStatus

__all__ = ["ApprovalRecord", "AuditRecord", "RunRecord", "StepRecord", "as_utc"]


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time we store is UTC."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RunRecord:
    id: int
    playbook: str
    params: dict[str, Any]
    status: RunStatus
    dry_run: bool
    requested_by: str
    requester_name: str
    surface: str
    place: Place
    card: MessageRef | None
    parent_run_id: int | None
    parent_step: str | None
    owner: str | None
    estimate_seconds: float
    estimate_cost_usd: float
    needs_approval: bool
    expires_at: datetime | None
    reminded_at: datetime | None
    error: str | None
    version: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None = field(default=None, compare=False)

    @classmethod
    def from_row(cls, row: Any) -> RunRecord:
        """From a RunRow, or a Core row of the runs table (same attribute names)."""
        assert row.id is not None and row.created_at is not None
        return cls(
            id=row.id,
            playbook=row.playbook,
            params=dict(row.params),
            status=RunStatus(row.status),
            dry_run=row.dry_run,
            requested_by=row.requested_by,
            requester_name=row.requester_name,
            surface=row.surface,
            place=Place(row.surface, row.channel, row.thread, row.channel_name),
            card=MessageRef.decode(row.card_ref) if row.card_ref else None,
            parent_run_id=row.parent_run_id,
            parent_step=row.parent_step,
            owner=row.owner,
            estimate_seconds=row.estimate_seconds,
            estimate_cost_usd=row.estimate_cost_usd,
            needs_approval=row.needs_approval,
            expires_at=as_utc(row.expires_at),
            reminded_at=as_utc(row.reminded_at),
            error=row.error,
            version=row.version,
            created_at=as_utc(row.created_at) or row.created_at,
            started_at=as_utc(row.started_at),
            finished_at=as_utc(row.finished_at),
            heartbeat_at=as_utc(row.heartbeat_at),
        )

    @property
    def label(self) -> str:
        return f"#{self.id}"

    @property
    def requester_display(self) -> str:
        return self.requester_name or self.requested_by.split(":", 1)[-1]


@dataclass(frozen=True)
class StepRecord:
    run_id: int
    step_id: str
    phase: str
    position: int
    action: str
    status: StepStatus
    attempts: int
    summary: str
    output: str
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    expires_at: datetime | None = None

    @classmethod
    def begun(
        cls,
        *,
        run_id: int,
        step_id: str,
        phase: str,
        position: int,
        action: str,
        status: StepStatus,
        started_at: datetime,
        expires_at: datetime | None = None,
    ) -> StepRecord:
        """A step that has just begun (or begun to wait), as the store now holds it."""
        return cls(
            run_id=run_id,
            step_id=step_id,
            phase=phase,
            position=position,
            action=action,
            status=status,
            attempts=0,
            summary="",
            output="",
            error=None,
            started_at=started_at,
            finished_at=None,
            duration_ms=None,
            expires_at=expires_at,
        )

    @classmethod
    def from_row(cls, row: Any) -> StepRecord:
        return cls(
            run_id=row.run_id,
            step_id=row.step_id,
            phase=row.phase,
            position=row.position,
            action=row.action,
            status=StepStatus(row.status),
            attempts=row.attempts,
            summary=row.summary,
            output=row.output,
            error=row.error,
            started_at=as_utc(row.started_at),
            finished_at=as_utc(row.finished_at),
            duration_ms=row.duration_ms,
            expires_at=as_utc(row.expires_at),
        )


@dataclass(frozen=True)
class ApprovalRecord:
    run_id: int
    step_id: str
    actor: str
    actor_name: str
    surface: str
    decision: str
    reason: str
    decided_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> ApprovalRecord:
        assert row.decided_at is not None
        return cls(
            run_id=row.run_id,
            step_id=row.step_id,
            actor=row.actor,
            actor_name=row.actor_name,
            surface=row.surface,
            decision=row.decision,
            reason=row.reason,
            decided_at=as_utc(row.decided_at) or row.decided_at,
        )


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    run_id: int | None
    actor: str
    surface: str
    kind: str
    detail: dict[str, Any]

    @classmethod
    def from_row(cls, row: Any) -> AuditRecord:
        assert row.id is not None and row.at is not None
        return cls(
            id=row.id,
            at=as_utc(row.at) or row.at,
            run_id=row.run_id,
            actor=row.actor,
            surface=row.surface,
            kind=row.kind,
            detail=dict(row.detail),
        )
