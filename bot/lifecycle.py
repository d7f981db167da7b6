"""The run lifecycle: which status may follow which. Pure; the store enforces it atomically.

pending ──Run / approvals──> running ──> succeeded | failed | rolled_back
   │  └──> denied | expired             │
   └──────────> cancelled <─────────────┤
                    ^                   └──(process died)──> interrupted
                    └─────── Abort ───────────────────────────────┘
                interrupted ──Resume──> running
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ACTIVE", "SYSTEM", "TERMINAL", "RunStatus", "StepStatus", "can_transition"]

SYSTEM = "system"
"""Who moved a run when no person did (the engine, a sweep, an expiry), in the audit trail."""


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"
    DENIED = "denied"
    EXPIRED = "expired"
    INTERRUPTED = "interrupted"


class StepStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    WAITING = "waiting"


TERMINAL = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.ROLLED_BACK,
        RunStatus.CANCELLED,
        RunStatus.DENIED,
        RunStatus.EXPIRED,
    }
)
ACTIVE = frozenset({RunStatus.PENDING, RunStatus.RUNNING, RunStatus.INTERRUPTED})

_NEXT: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PENDING: frozenset(
        {RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.DENIED, RunStatus.EXPIRED}
    ),
    RunStatus.RUNNING: frozenset(
        {
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
            RunStatus.ROLLED_BACK,
            RunStatus.CANCELLED,
            RunStatus.INTERRUPTED,
        }
    ),
    RunStatus.INTERRUPTED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED}),
}


def can_transition(current: RunStatus, target: RunStatus) -> bool:
    """Whether a run in ``current`` may move to ``target``."""
    return target in _NEXT.get(current, frozenset())
