"""Each run's chat output, delivered in order by a task of its own, never holding a run up.

A run's outbox holds thread posts (delivered one by one, in order), edits of messages it
posted (an approval request that says how its wait ended), and card edits, coalesced: one
queued card edit stands for every request made before it begins, and shows the run as it
stands when it is made. A marker (:meth:`Outbox.flushed`) lets a command wait until what it
queued has been delivered before it answers. Every chat call is bounded by ``timeout``.

What fails is never retried on the spot: a post is logged and dropped (unless its poster
waits to hear: a notify step fails then); a message edit is kept and sent again by
:meth:`Outbox.retry_failed_edits` (the periodic resync, once chat answers again); a card edit
is the card keeper's to remember.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from bot.chat import Button, Chat, MessageRef
from bot.db.records import RunRecord
from bot.engine.observer import safely
from bot.progress.texts import failure_reason
from playbooks.errors import ActionError

__all__ = ["CHAT_TIMEOUT", "EditCard", "Outbox"]

log = structlog.get_logger(__name__)

CHAT_TIMEOUT = 10.0
"""Seconds one chat call may take before it is given up (and logged)."""

EditCard = Callable[[int, RunRecord | None], Awaitable[None]]
"""Edits a run's card to show it as it stands (given the newest row a caller handed over,
if any); raises when chat refuses."""


class _CardEdit:
    """In an outbox: edit the card to show the run as it stands when the edit is made."""


_CARD_EDIT = _CardEdit()


@dataclass(slots=True)
class _Post:
    ref: MessageRef
    text: str
    buttons: list[Button] | None = None
    delivered: asyncio.Future[None] | None = None  # for a poster that must know (notify)
    posted: Callable[[MessageRef], Awaitable[None]] | None = None  # told where it went


@dataclass(slots=True)
class _Edit:
    """In an outbox: a posted message (an approval request) says something new, buttonless."""

    ref: MessageRef
    text: str


class _Box:
    """One run's queue and the task delivering it. A bare future is a marker, resolved once
    everything queued before it is delivered."""

    __slots__ = ("card_queued", "current", "items", "task")

    def __init__(self) -> None:
        self.items: deque[_Post | _Edit | _CardEdit | asyncio.Future[None]] = deque()
        self.card_queued = False
        self.current: RunRecord | None = None  # the newest row a caller handed over
        self.task: asyncio.Task[None] | None = None


class Outbox:
    """The outboxes of every run with chat output on its way."""

    def __init__(
        self, chat: Callable[[str], Chat], edit_card: EditCard, *, timeout: float = CHAT_TIMEOUT
    ) -> None:
        self._chat = chat
        self._edit_card = edit_card
        self.timeout = timeout
        self._boxes: dict[int, _Box] = {}
        self._failed_edits: dict[MessageRef, tuple[int, _Edit]] = {}

    # -- queueing -------------------------------------------------------------------------

    def post(
        self,
        run_id: int,
        ref: MessageRef,
        text: str,
        buttons: list[Button] | None = None,
        *,
        delivered: asyncio.Future[None] | None = None,
        posted: Callable[[MessageRef], Awaitable[None]] | None = None,
    ) -> None:
        """Queue ``text`` as a reply in the thread of ``ref`` (the run's card)."""
        self._box(run_id).items.append(_Post(ref, text, buttons, delivered, posted))

    def edit(self, run_id: int, ref: MessageRef, text: str) -> None:
        """Queue an edit of a message the run posted: its new text, without buttons."""
        self._box(run_id).items.append(_Edit(ref, text))

    def request_card(self, run_id: int, current: RunRecord | None = None) -> None:
        """Queue an edit of the run's card, unless one is queued that has not begun (it then
        stands for this one too); ``current``: the run as a transition just returned it."""
        box = self._box(run_id)
        if current is not None and (box.current is None or current.version >= box.current.version):
            box.current = current
        if not box.card_queued:
            box.card_queued = True
            box.items.append(_CARD_EDIT)

    def forget_current(self, run_id: int) -> None:
        """The row handed over for the run's next card edit is out of date: read it again."""
        box = self._boxes.get(run_id)
        if box is not None:
            box.current = None

    # -- waiting --------------------------------------------------------------------------

    async def flushed(self, run_id: int) -> None:
        """Wait until everything queued for the run so far is delivered (or given up)."""
        box = self._boxes.get(run_id)
        if box is None:
            return
        marker = asyncio.get_running_loop().create_future()
        box.items.append(marker)
        await marker

    async def settle(self) -> None:
        """Wait until every queued post and edit is delivered (or given up and logged)."""
        while self._boxes:
            tasks = [box.task for box in self._boxes.values() if box.task is not None]
            await asyncio.gather(*tasks, return_exceptions=True)

    def retry_failed_edits(self) -> None:
        """Queue again every message edit chat refused or did not answer."""
        for ref, (run_id, edit) in list(self._failed_edits.items()):
            del self._failed_edits[ref]
            self._box(run_id).items.append(edit)  # failing again puts it back

    # -- delivering -----------------------------------------------------------------------

    def _box(self, run_id: int) -> _Box:
        box = self._boxes.get(run_id)
        if box is None:
            box = self._boxes[run_id] = _Box()
            box.task = asyncio.create_task(self._drain(run_id, box), name=f"chat-out-{run_id}")
        return box

    async def _drain(self, run_id: int, box: _Box) -> None:
        try:
            while box.items:
                item = box.items.popleft()
                if isinstance(item, _Post):
                    await self._deliver_post(run_id, item)
                elif isinstance(item, _Edit):
                    await self._deliver_edit(run_id, item)
                elif isinstance(item, _CardEdit):
                    box.card_queued = False
                    current, box.current = box.current, None
                    await self._deliver_card_edit(run_id, current)
                elif not item.done():
                    item.set_result(None)
        finally:
            if self._boxes.get(run_id) is box:
                del self._boxes[run_id]
            for left in box.items:  # only when cancelled: release whoever waits
                if isinstance(left, _Post) and left.delivered and not left.delivered.done():
                    left.delivered.set_exception(ActionError("the bot stopped before posting"))
                elif isinstance(left, asyncio.Future) and not left.done():
                    left.set_result(None)

    async def _deliver_post(self, run_id: int, post: _Post) -> None:
        chat = self._chat(post.ref.surface)
        try:
            async with asyncio.timeout(self.timeout):
                if post.buttons is None and post.posted is None and post.delivered is None:
                    # Nobody answers it, edits it or waits for it: the surface may pace it.
                    await chat.post_progress(post.ref, post.text)
                    return
                ref = await chat.post_in_thread(post.ref, post.text, post.buttons)
            if post.posted is not None:
                await safely(post.posted(ref))
        except Exception as exc:
            if post.delivered is not None:
                if not post.delivered.done():  # done: its poster was cancelled meanwhile
                    post.delivered.set_exception(exc)
            else:
                log.warning(
                    "thread_post_failed",
                    run=run_id,
                    error=failure_reason(exc),
                    exc_info=_worth_a_trace(exc),
                )
        else:
            if post.delivered is not None and not post.delivered.done():
                post.delivered.set_result(None)

    async def _deliver_edit(self, run_id: int, edit: _Edit) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await self._chat(edit.ref.surface).update_message(edit.ref, edit.text)
        except Exception as exc:
            self._failed_edits[edit.ref] = (run_id, edit)
            log.warning(
                "message_edit_failed",
                run=run_id,
                error=failure_reason(exc),
                exc_info=_worth_a_trace(exc),
            )

    async def _deliver_card_edit(self, run_id: int, current: RunRecord | None) -> None:
        try:
            await self._edit_card(run_id, current)
        except Exception as exc:
            log.warning(
                "card_edit_failed",
                run=run_id,
                error=failure_reason(exc),
                exc_info=_worth_a_trace(exc),
            )


def _worth_a_trace(exc: BaseException) -> bool:
    """Whether a failed chat call's traceback is worth logging: not for a plain timeout."""
    return not isinstance(exc, TimeoutError)
