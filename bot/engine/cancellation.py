"""A cancelled background task stops even when a library it awaited lost the cancellation.

``task.cancel()`` raises CancelledError at the task's current await; a library that catches
it there and goes on (a database driver bridging to a thread or greenlet may) leaves the
task running, and a shutdown that waits for it would wait for good. Loops that must stop
when cancelled call :func:`stop_if_cancelled` after each round: the task still counts the
cancellation (``Task.cancelling``) even when the exception was lost.
"""

from __future__ import annotations

import asyncio

__all__ = ["stop_if_cancelled"]


def stop_if_cancelled() -> None:
    """Raise CancelledError if the current task was cancelled and has not stopped yet."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
