"""Finding a run a user named, with the refusals they read when it cannot be acted on."""

from __future__ import annotations

from bot.db.records import RunRecord
from bot.db.store import Store
from bot.lifecycle import RunStatus
from playbooks.errors import ChatOpsError

__all__ = ["no_such_run", "not_now", "require_run", "standing"]


def no_such_run(run_id: int) -> ChatOpsError:
    return ChatOpsError(f"There is no run #{run_id}. See `/playbook history`.")


async def require_run(store: Store, run_id: int) -> RunRecord:
    run = await store.get_run(run_id)
    if run is None:
        raise no_such_run(run_id)
    return run


# Where a run stands, as the end of "Can't cancel run #2: …".
_STANDING = {
    RunStatus.PENDING: "it is still waiting to start",
    RunStatus.RUNNING: "it is running now",
    RunStatus.SUCCEEDED: "it has already succeeded",
    RunStatus.FAILED: "it has already failed",
    RunStatus.ROLLED_BACK: "it has already failed and been rolled back",
    RunStatus.CANCELLED: "it was cancelled",
    RunStatus.DENIED: "it was denied",
    RunStatus.EXPIRED: "it expired before it was approved",
    RunStatus.INTERRUPTED: "it was interrupted (Resume or Abort it)",
}


def standing(run: RunRecord) -> str:
    """Where ``run`` stands, in words: ``it has already succeeded``."""
    if run.dry_run:
        return "it was a dry run: nothing was started"
    if run.status is RunStatus.EXPIRED and not run.needs_approval:
        return "it expired before anyone pressed Run"
    return _STANDING[run.status]


async def not_now(store: Store, run_id: int, verb: str) -> str:
    """Why ``verb`` cannot happen to the run now: another decision got there first."""
    run = await require_run(store, run_id)
    return f"Can't {verb} run #{run_id}: {standing(run)}."
