"""Card edits paced per chat: a token bucket, the latest state winning, the last one landing."""

from __future__ import annotations

import asyncio

import pytest

from handlers.telegram.edits import CardEdits
from handlers.telegram.pacing import ChatBudget


class Recorder:
    """A ``send`` that records what it showed, failing as told."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, str, int]] = []
        self.failures: list[BaseException] = []

    async def __call__(self, chat: str, message_id: str, state: int) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.shown.append((chat, message_id, state))


def test_the_budget_allows_a_burst_then_refills_at_its_rate() -> None:
    budget = ChatBudget(burst=2, per_minute=6, now=100.0)  # a token every 10 s
    assert budget.take(100.0) == 0.0
    assert budget.take(100.0) == 0.0
    assert budget.take(100.0) == pytest.approx(10.0)
    assert budget.take(104.0) == pytest.approx(6.0)  # nothing taken when it says wait
    assert budget.take(110.0) == 0.0
    assert budget.take(1000.0) == 0.0  # never more than the burst saved up
    assert budget.take(1000.0) == 0.0
    assert budget.take(1000.0) > 0.0


async def test_thirty_quick_edits_of_a_card_make_two_showing_the_first_and_the_last() -> None:
    send = Recorder()
    edits: CardEdits[int] = CardEdits(send, burst=1, per_minute=600)  # then one per 0.1 s
    for state in range(1, 31):
        await edits.edit("-100", "7", state)
    assert send.shown == [("-100", "7", 1)]
    assert edits.waiting == 1
    await edits.idle()
    assert send.shown == [("-100", "7", 1), ("-100", "7", 30)]


async def test_cards_of_one_chat_share_its_budget_and_each_gets_its_latest_state() -> None:
    send = Recorder()
    edits: CardEdits[int] = CardEdits(send, burst=1, per_minute=600)
    await edits.edit("-100", "1", 1)
    for state in (2, 3):
        await edits.edit("-100", "2", state)
        await edits.edit("-100", "1", state)
    await edits.edit("-200", "9", 1)  # another chat: a budget of its own
    assert send.shown == [("-100", "1", 1), ("-200", "9", 1)]
    await edits.idle()
    assert send.shown[2:] == [("-100", "2", 3), ("-100", "1", 3)]


async def test_an_edit_within_budget_fails_for_its_caller() -> None:
    send = Recorder()
    send.failures.append(ConnectionError("down"))
    edits: CardEdits[int] = CardEdits(send)
    with pytest.raises(ConnectionError):
        await edits.edit("-100", "1", 1)


async def test_a_kept_edit_that_fails_is_tried_again_unless_a_newer_state_came() -> None:
    send = Recorder()
    edits: CardEdits[int] = CardEdits(
        send,
        burst=1,
        per_minute=600,
        retry_after=0.01,
        is_transient=lambda exc: isinstance(exc, ConnectionError),
    )
    await edits.edit("-100", "1", 1)
    send.failures += [ConnectionError("down"), ConnectionError("still down")]
    await edits.edit("-100", "1", 2)
    await edits.idle()
    assert send.shown == [("-100", "1", 1), ("-100", "1", 2)]


async def test_a_kept_edit_refused_for_good_is_dropped_not_retried() -> None:
    send = Recorder()
    edits: CardEdits[int] = CardEdits(
        send, burst=1, per_minute=600, retry_after=0.01, is_transient=lambda exc: False
    )
    await edits.edit("-100", "1", 1)
    send.failures.append(ValueError("message to edit not found"))
    await edits.edit("-100", "1", 2)
    await edits.idle()
    assert send.shown == [("-100", "1", 1)]


async def test_closing_makes_the_kept_edits_at_once_whatever_the_budget() -> None:
    send = Recorder()
    edits: CardEdits[int] = CardEdits(send, burst=1, per_minute=0.01)  # one a century
    await edits.edit("-100", "1", 1)
    await edits.edit("-100", "1", 2)
    await edits.edit("-100", "2", 5)
    await asyncio.sleep(0)
    assert send.shown == [("-100", "1", 1)]
    await edits.close()
    assert send.shown == [("-100", "1", 1), ("-100", "1", 2), ("-100", "2", 5)]
