"""Acknowledged work, run behind the acks: in order per person, a few at a time, never late.

Every listener acks first and hands its work here. Started at once, that work would share
the event loop with the acks of the requests behind it: a command is a few milliseconds of
database writes, rendering and Web API calls, an ack a fraction of one, so in a burst every
ack would wait behind the commands before it. Instead, while requests keep coming the work
waits: an item starts once nothing was handed in for ``quiet`` seconds, or once it has
waited ``max_wait`` seconds, whichever is first. A steady stream delays work by that much,
never more (Slack's 3 s for opening a form from a command stay well in reach).

How many items may be in progress depends on why they start. While requests keep coming
(items start because they are due) at most ``workers``, so only a few interleave with the
acks. Once it is quiet, up to ``quiet_workers``: items in progress together share the
database's group commits, so a backlog drains at a fraction of the CPU it would take one
by one. An item in progress for ``slot_timeout`` seconds is waiting on Slack or the
database, not on the CPU: it stops counting against either limit, so one slow call cannot
hold everyone else up.

One person's items keep their order where it changes the outcome. Clicks and forms
(``exclusive``) run alone, in the order they were handed in: a Cancel clicked right after
Run is handled after it, and a command typed after a click is handled after that click.
Commands (``exclusive=False``) may run beside that person's other commands: a command can
only name a run whose card it has already seen, which the earlier command's work posted.

A failing item is logged and the others go on. :meth:`idle` waits for everything handed
in; :meth:`close` starts whatever still waits and finishes it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

__all__ = ["WorkQueue"]

log = structlog.get_logger(__name__)

Work = Callable[[], Awaitable[None]]


@dataclass(eq=False)
class _Item:
    seq: int  # order handed in, across all keys
    key: str
    work: Work
    exclusive: bool
    due: float  # loop time by which it starts, however busy the loop is


@dataclass(eq=False)
class _Key:
    """One person's items: those waiting (oldest first) and how many are in progress."""

    waiting: deque[_Item] = field(default_factory=deque)
    running: int = 0
    running_exclusive: bool = False

    def next_may_start(self) -> bool:
        if not self.waiting:
            return False
        return self.running == 0 or not (self.waiting[0].exclusive or self.running_exclusive)


class WorkQueue:
    """Runs handed-in work after the acks; see the module's docstring for the rules."""

    def __init__(
        self,
        *,
        workers: int = 4,
        quiet_workers: int = 16,
        quiet: float = 0.002,
        max_wait: float = 0.25,
        slot_timeout: float = 0.5,
        close_timeout: float = 10.0,
    ) -> None:
        if not 1 <= workers <= quiet_workers:
            raise ValueError(f"need 1 <= workers <= quiet_workers, not {workers}, {quiet_workers}")
        self.workers = workers
        self.quiet_workers = quiet_workers
        self.quiet = quiet
        self.max_wait = max_wait
        self.slot_timeout = slot_timeout
        self.close_timeout = close_timeout
        self._seq = itertools.count()
        self._keys: dict[str, _Key] = {}
        # (seq, key) of each key's oldest waiting item once it may start, oldest first.
        # Entries go stale when that item starts; they are dropped when they reach the top.
        self._ready: list[tuple[int, str]] = []
        self._waiting = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots: dict[asyncio.Task[None], asyncio.TimerHandle] = {}  # counted ones
        self._last_handed_in = -math.inf
        self._handed_in = 0  # items handed in so far
        self._settled = 0  # _handed_in when the loop was last seen quiet (see _look_again)
        self._settling: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False
        self._all_done = asyncio.Event()
        self._all_done.set()

    @property
    def pending(self) -> int:
        """Items handed in and not finished yet (waiting or in progress)."""
        return self._waiting + len(self._tasks)

    def submit(self, key: str, work: Work, *, exclusive: bool = True) -> None:
        """Run ``work()`` after the acks and after ``key``'s earlier items (only after the
        exclusive ones if ``exclusive`` is False)."""
        now = asyncio.get_running_loop().time()
        self._last_handed_in = now
        self._handed_in += 1
        item = _Item(next(self._seq), key, work, exclusive, now + self.max_wait)
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Key()
        state.waiting.append(item)
        self._waiting += 1
        self._all_done.clear()
        self._offer(key, state)
        if self._timer is None or self._closing:
            self._pump()
        # Otherwise a check is already due: it sees this item, and when it came in.

    async def idle(self) -> None:
        """Wait until every item handed in so far (and any handed in meanwhile) is done."""
        while self.pending:
            await self._all_done.wait()

    async def close(self) -> None:
        """Start everything that waits, at once, and wait up to close_timeout s for all of it;
        from now on, work handed in starts at once."""
        self._closing = True
        self._pump()
        try:
            async with asyncio.timeout(self.close_timeout):
                await self.idle()
        except TimeoutError:
            log.error(
                "slack_work_unfinished",
                waiting=self._waiting,
                in_progress=len(self._tasks),
                timeout=self.close_timeout,
            )

    # -- scheduling ---------------------------------------------------------------------

    def _offer(self, key: str, state: _Key) -> None:
        if state.next_may_start():
            heapq.heappush(self._ready, (state.waiting[0].seq, key))

    def _pump(self) -> None:
        """Start what may start now; if something must wait, check again when it may start."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = asyncio.get_running_loop()
        while self._ready:
            seq, key = self._ready[0]
            state = self._keys.get(key)
            if state is None or not state.next_may_start() or state.waiting[0].seq != seq:
                heapq.heappop(self._ready)  # stale: that item started, or must wait now
                continue
            if not self._closing:
                now = loop.time()
                due = state.waiting[0].due
                if len(self._slots) >= self._limit(now, due):
                    self._look_again(loop, now, due)
                    return
            heapq.heappop(self._ready)
            self._start(key, state)

    def _limit(self, now: float, due: float) -> int:
        """How many items may be in progress for one more to start now."""
        if now >= self._last_handed_in + self.quiet and self._settled == self._handed_in:
            return self.quiet_workers
        if now >= due:
            return self.workers
        return 0  # requests keep coming and nothing is due yet

    def _look_again(self, loop: asyncio.AbstractEventLoop, now: float, due: float) -> None:
        """Arrange the next look at an item that may not start yet (due at ``due``)."""
        quiet_at = self._last_handed_in + self.quiet
        if now < quiet_at:
            # Once it is quiet, or once this item is due, whichever is first.
            when = quiet_at if now >= due else min(quiet_at, due)
            self._timer = loop.call_at(when, self._on_timer)
        elif self._settled != self._handed_in and self._settling != self._handed_in:
            # Nothing came in for a while, but the loop may just have been busy (a long
            # step, a garbage collection, the process waiting for a CPU) with requests
            # already read and not yet acknowledged: their acks run within two turns of
            # the loop, so it is quiet only if two turns pass without one.
            self._settling = self._handed_in
            loop.call_soon(self._settle, self._handed_in, 2)
        # Otherwise a finished item or a freed slot looks again.

    def _settle(self, handed_in: int, turns: int) -> None:
        if handed_in != self._handed_in:
            self._settling = None  # something came in: its submit looks again
        elif turns > 1:
            asyncio.get_running_loop().call_soon(self._settle, handed_in, turns - 1)
        else:
            self._settling = None
            self._settled = handed_in
            self._pump()

    def _on_timer(self) -> None:
        self._timer = None
        self._pump()

    def _start(self, key: str, state: _Key) -> None:
        item = state.waiting.popleft()
        self._waiting -= 1
        state.running += 1
        state.running_exclusive = item.exclusive
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._run(item))
        self._tasks.add(task)
        self._slots[task] = loop.call_later(self.slot_timeout, self._release, task)
        task.add_done_callback(lambda done: self._finished(key, state, done))
        self._offer(key, state)  # a command may start beside the commands before it

    async def _run(self, item: _Item) -> None:
        try:
            await item.work()
        except Exception:
            log.error("slack_handler_failed", key=item.key, exc_info=True)

    def _release(self, task: asyncio.Task[None]) -> None:
        """``task`` has been in progress for slot_timeout: it no longer holds a worker slot."""
        if self._slots.pop(task, None) is not None:
            self._pump()

    def _finished(self, key: str, state: _Key, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        slot = self._slots.pop(task, None)
        if slot is not None:
            slot.cancel()
        state.running -= 1
        if state.running == 0:
            state.running_exclusive = False
            if not state.waiting:
                del self._keys[key]
        self._offer(key, state)
        if not self.pending:
            self._all_done.set()
        self._pump()
