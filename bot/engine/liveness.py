"""Who owns a running run, and when a run's owner is presumed dead. Pure decisions."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.db.records import RunRecord
from bot.lifecycle import RunStatus

__all__ = ["OwnerId", "is_orphaned", "must_let_go", "pid_alive"]


@dataclass(frozen=True)
class OwnerId:
    """This replica's identity on the runs it executes: ``host:pid:nonce``."""

    host: str
    pid: int
    nonce: str

    @classmethod
    def for_this_process(cls) -> OwnerId:
        return cls(socket.gethostname(), os.getpid(), secrets.token_hex(3))

    @classmethod
    def parse(cls, text: str) -> OwnerId | None:
        parts = text.rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2])

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.nonce}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def is_orphaned(
    run: RunRecord,
    *,
    me: OwnerId,
    now: datetime,
    stale_after: timedelta,
    alive: Callable[[int], bool] = pid_alive,
) -> bool:
    """Whether a ``running`` run has lost the process executing it.

    A run owned by a process on this host that no longer exists is orphaned at once (a
    restart finds its own runs straight away); any other owner is presumed dead when its
    heartbeat is older than ``stale_after``.
    """
    if run.status is not RunStatus.RUNNING:
        return False
    owner = OwnerId.parse(run.owner) if run.owner else None
    if owner == me:
        return False
    if owner is None:
        return True
    if owner.host == me.host and not alive(owner.pid):
        return True
    return run.heartbeat_at is None or now - run.heartbeat_at > stale_after


def must_let_go(last_beat: float, now: float, *, stale_after: float) -> bool:
    """Whether a replica must stop the runs it executes: its last heartbeat that reached the
    database (``last_beat``, on the same clock as ``now``) is half as old as the age at which
    other replicas presume it dead (:func:`is_orphaned`) and may take its runs over. The
    other half is the margin for clocks, and for the checks to come round."""
    return now - last_beat > stale_after / 2
