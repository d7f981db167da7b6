"""Runs written straight into the runs table, as if they had happened: a digest's input.

    await insert_runs(engine, [stored_run(id=1, status="failed", created_at=t, ...)])

Rows are the runs table's own column defaults plus what is given; times are UTC. A finished
run gets ``started_at`` / ``finished_at`` from ``seconds`` (how long it ran).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.statements import NEW_RUN, RUNS

__all__ = ["insert_runs", "stored_run"]

_NOT_STARTED = {"pending", "denied", "expired"}
_UNFINISHED = {"pending", "running", "interrupted"}


def stored_run(
    *,
    id: int,
    created_at: datetime,
    playbook: str = "clear-cache",
    status: str = "succeeded",
    seconds: float = 30.0,
    **overrides: Any,
) -> dict[str, Any]:
    started = None if status in _NOT_STARTED else created_at + timedelta(seconds=5)
    finished = None
    if status not in _UNFINISHED:
        finished = (started or created_at) + timedelta(seconds=seconds if started else 1800)
    row = NEW_RUN | {
        "id": id,
        "playbook": playbook,
        "params": {},
        "status": status,
        "dry_run": False,
        "requested_by": "shell:alice",
        "requester_name": "alice",
        "surface": "shell",
        "channel": "incidents",
        "channel_name": "incidents",
        "thread": None,
        "card_ref": f"shell|incidents|card-{id}|",
        "parent_run_id": None,
        "estimate_seconds": 0.0,
        "estimate_cost_usd": 0.0,
        "needs_approval": status in ("pending", "expired", "denied"),
        "version": 1,
        "created_at": created_at,
        "started_at": started,
        "finished_at": finished,
        "updated_at": finished or created_at,
    }
    return row | overrides


async def insert_runs(
    engine: AsyncEngine, rows: Sequence[dict[str, Any]], *, batch: int = 5000
) -> None:
    async with engine.begin() as connection:
        for start in range(0, len(rows), batch):
            await connection.execute(insert(RUNS), list(rows[start : start + batch]))
