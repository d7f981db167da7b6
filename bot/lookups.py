"""Finding a run a user named, with the refusals they read when it cannot be acted on."""

from __future__ import annotations

from bot.db.records import RunRecord
from bot.db.store import Store
from playbooks.errors import ChatOpsError

__all__ = ["no_such_run", "not_now", "require_run"]


def no_such_run(run_id: int) -> ChatOpsError:
    return ChatOpsError(f"There is no run #{run_id}. See `/playbook history`.")


async def require_run(store: Store, run_id: int) -> RunRecord:
    run = await store.get_run(run_id)
    if run is None:
        raise no_such_run(run_id)
    return run


async def not_now(store: Store, run_id: int, verb: str) -> str:
    """Why ``verb`` cannot happen to the run now: another decision got there first."""
    run = await require_run(store, run_id)
    return f"Can't {verb} run #{run_id}: it is {run.status.value} now."
