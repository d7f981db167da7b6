"""When the database does not answer: how a run's engine gives up, and how writes are retried.

An engine that cannot record what a run did cannot go on with it: nobody, this process
included, would know which steps ran. So the first store call of a run that fails stops the
run where it is (:class:`LostDatabase` carries that up through sub-playbooks), and once the
database answers again the run is recorded as interrupted: Resume continues after the last
step that succeeded, Abort ends it. What must land eventually is written with
:func:`until_stored`, tried again with a growing pause for as long as the database is away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from bot.db.connect import UNREACHABLE

__all__ = ["LOST_DATABASE", "STOPS_A_RUN", "LostDatabase", "first_line", "until_stored"]

log = structlog.get_logger(__name__)
T = TypeVar("T")

LOST_DATABASE = "the bot lost its database while this run was executing"
"""Why a run was interrupted (or a sub-playbook cancelled) when its engine lost the database."""

FIRST_RETRY = 0.25
"""Seconds before the first retry; each pause doubles, up to :data:`LONGEST_RETRY`."""
LONGEST_RETRY = 10.0
"""The longest pause between retries: a run is recorded at most this long after the
database is back. Thousands of runs retrying at once cost the database a few transactions
(their writes share a group commit), so there is no need to spread them out further."""


class LostDatabase(Exception):
    """The engine stopped executing a run: a store call failed and the run cannot go on.

    ``runs`` are the sub-playbook runs that stopped with it, innermost first; the top-level
    run's engine records how each ended.
    """

    def __init__(self, runs: tuple[int, ...] = ()) -> None:
        super().__init__("the database did not answer")
        self.runs = runs


STOPS_A_RUN: tuple[type[Exception], ...] = (LostDatabase, *UNREACHABLE)
"""What ends a run's execution where it stands, to be recorded interrupted."""


async def until_stored(
    write: Callable[[], Awaitable[T]],
    *,
    what: str,
    run_id: int,
    first: float = FIRST_RETRY,
    longest: float = LONGEST_RETRY,
) -> T:
    """``write()``, tried again with a doubling pause while the database does not answer.

    Only a database that does not answer is retried; any other error is raised. Cancelling
    the caller ends the retries. The pauses are real time: they pace this process's load on
    a database coming back, not a playbook.
    """
    pause = first
    while True:
        try:
            return await write()
        except UNREACHABLE as exc:
            log.warning(
                "database_write_retrying",
                what=what,
                run=run_id,
                retry_in=pause,
                error=first_line(exc),
            )
        await asyncio.sleep(pause)
        pause = min(pause * 2, longest)


def first_line(exc: BaseException) -> str:
    """An exception's first line, for a log line: a driver's message runs on over several."""
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
