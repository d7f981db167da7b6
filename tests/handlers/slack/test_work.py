"""The queue behind the acks: work waits while requests keep coming (never past max_wait),
one person's clicks keep their order, a failure stays alone, idle() and close() wait for it all.

Order and overlap, not wall time: each item records when it started and ended in a shared
list, and the tests read that list.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from handlers.slack import work as work_module
from handlers.slack.work import WorkQueue


class Journal:
    """What the items did, in the order they did it."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def item(self, name: str, *, gate: asyncio.Event | None = None, fail: bool = False) -> Any:
        async def run() -> None:
            self.events.append(f"start {name}")
            await asyncio.sleep(0)  # every item gives the others a chance to interleave
            if gate is not None:
                await gate.wait()
            if fail:
                raise RuntimeError(f"{name} broke")
            self.events.append(f"end {name}")

        return run

    def started(self) -> list[str]:
        return [e.removeprefix("start ") for e in self.events if e.startswith("start ")]

    def ended(self) -> list[str]:
        return [e.removeprefix("end ") for e in self.events if e.startswith("end ")]

    def overlapped(self, a: str, b: str) -> bool:
        """Whether ``b`` started before ``a`` ended (or the other way round)."""
        events = self.events
        return events.index(f"start {b}") < events.index(f"end {a}") and events.index(
            f"start {a}"
        ) < events.index(f"end {b}")


def fast_queue(**overrides: Any) -> WorkQueue:
    settings: dict[str, Any] = {"quiet": 0.001, "max_wait": 0.05, "slot_timeout": 5.0}
    settings.update(overrides)
    return WorkQueue(**settings)


async def test_a_burst_waits_for_the_requests_to_stop_then_all_of_it_runs() -> None:
    queue, journal = fast_queue(quiet=0.05, max_wait=1.0, quiet_workers=8), Journal()
    for i in range(50):
        queue.submit(f"U{i % 5}", journal.item(f"c{i}"), exclusive=False)
    assert queue.pending == 50
    await asyncio.sleep(0)
    assert journal.events == []  # handed in back to back: the acks of a burst come first
    await queue.idle()
    assert sorted(journal.ended()) == sorted(f"c{i}" for i in range(50))
    assert queue.pending == 0


async def test_a_steady_stream_does_not_hold_work_back_past_max_wait() -> None:
    # Items keep coming faster than `quiet`, for far longer than max_wait.
    queue, journal = fast_queue(quiet=10.0, max_wait=0.01, workers=1), Journal()
    queue.submit("U1", journal.item("first"))
    handed_in = 1
    while not journal.ended() and handed_in < 5000:
        await asyncio.sleep(0.001)
        queue.submit(f"U{handed_in}", journal.item(f"later-{handed_in}"))
        handed_in += 1
    assert journal.ended()[:1] == ["first"]
    assert handed_in < 5000, "the first item never started while others kept coming"
    await queue.close()


async def test_one_persons_clicks_run_one_at_a_time_in_order() -> None:
    queue, journal = fast_queue(), Journal()
    for name in ("run", "cancel", "resume"):
        queue.submit("U0ALICE", journal.item(f"alice-{name}"))
    queue.submit("U0BOB", journal.item("bob-approve"))
    await queue.idle()
    alice = [e for e in journal.events if "alice" in e]
    assert alice == [
        "start alice-run",
        "end alice-run",
        "start alice-cancel",
        "end alice-cancel",
        "start alice-resume",
        "end alice-resume",
    ]
    assert journal.overlapped("alice-run", "bob-approve")  # other people are not held up


async def test_commands_run_side_by_side_but_never_beside_a_click() -> None:
    queue, journal = fast_queue(), Journal()
    queue.submit("U0ALICE", journal.item("cmd1"), exclusive=False)
    queue.submit("U0ALICE", journal.item("cmd2"), exclusive=False)
    queue.submit("U0ALICE", journal.item("click"))
    queue.submit("U0ALICE", journal.item("cmd3"), exclusive=False)
    await queue.idle()
    assert journal.overlapped("cmd1", "cmd2")
    start = journal.events.index
    assert start("start click") > max(start("end cmd1"), start("end cmd2"))
    assert start("start cmd3") > start("end click")


async def test_a_failing_item_is_logged_and_the_rest_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logged: list[tuple[str, dict[str, Any]]] = []

    class Recorder:
        def error(self, event: str, **fields: Any) -> None:
            logged.append((event, fields))

    monkeypatch.setattr(work_module, "log", Recorder())
    queue, journal = fast_queue(), Journal()
    queue.submit("U0ALICE", journal.item("broken", fail=True))
    queue.submit("U0ALICE", journal.item("next"))
    queue.submit("U0BOB", journal.item("other"))
    await queue.idle()
    assert sorted(journal.ended()) == ["next", "other"]
    assert [event for event, _ in logged] == ["slack_handler_failed"]
    assert logged[0][1]["key"] == "U0ALICE"
    assert logged[0][1]["exc_info"] is True


async def test_idle_waits_for_work_that_has_not_started_yet() -> None:
    gate = asyncio.Event()
    queue, journal = fast_queue(), Journal()
    queue.submit("U0ALICE", journal.item("held", gate=gate))
    queue.submit("U0ALICE", journal.item("queued"))
    idle = asyncio.create_task(queue.idle())
    while "start held" not in journal.events:
        await asyncio.sleep(0.001)
    assert not idle.done()
    gate.set()
    await idle
    assert journal.ended() == ["held", "queued"]


async def test_close_finishes_what_waits_at_once() -> None:
    # Nothing would start for an hour: close() starts it all and waits for it.
    queue, journal = fast_queue(quiet=3600.0, max_wait=3600.0), Journal()
    for i in range(10):
        queue.submit("U0ALICE", journal.item(f"click{i}"))
    await asyncio.sleep(0.01)
    assert journal.events == []
    await queue.close()
    assert journal.ended() == [f"click{i}" for i in range(10)]  # still in order


async def test_a_slow_item_does_not_hold_up_other_people() -> None:
    gate = asyncio.Event()
    queue, journal = fast_queue(workers=1, quiet_workers=1, slot_timeout=0.01), Journal()
    queue.submit("U0ALICE", journal.item("slow", gate=gate))
    queue.submit("U0ALICE", journal.item("alice-next"))
    queue.submit("U0BOB", journal.item("bob"))
    while "bob" not in journal.ended():
        await asyncio.sleep(0.001)
    assert journal.started() == ["slow", "bob"]  # Alice's next click still waits for hers
    gate.set()
    await queue.idle()
    assert journal.ended() == ["bob", "slow", "alice-next"]


def test_limits_must_make_sense() -> None:
    with pytest.raises(ValueError, match="workers"):
        WorkQueue(workers=0)
    with pytest.raises(ValueError, match="workers"):
        WorkQueue(workers=8, quiet_workers=4)
