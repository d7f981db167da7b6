"""A background loop stops when cancelled, even if an await inside it lost the cancellation."""

from __future__ import annotations

import asyncio
import contextlib

from bot.engine.cancellation import stop_if_cancelled


async def _swallows_cancellation() -> None:
    """An await as some libraries implement one: a CancelledError raised in it is caught
    and the call returns as if nothing happened."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(3600)


async def test_a_loop_whose_await_lost_its_cancellation_still_stops() -> None:
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            await _swallows_cancellation()
            stop_if_cancelled()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    task.cancel()
    async with asyncio.timeout(5):
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert rounds == 1


async def test_a_task_nobody_cancelled_goes_on() -> None:
    stop_if_cancelled()  # no error: this task was not cancelled
