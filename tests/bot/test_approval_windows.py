"""Approval windows, through the console: only decisions made inside a window count.

Time is the injected clock; the window of a run and of a step gate is 10 minutes from 10:00.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.lifecycle import RunStatus, StepStatus
from handlers.shell.testing import ConsoleBot
from tests.bot.approval_playbooks import CONFIG, PLAYBOOKS
from tests.support.clock import FastClock
from tests.support.console import BotFactory
from tests.support.stub_server import StubServer

# A gate that only looks again when woken: what a press does must decide, not a poll.
SLOW_POLL = CONFIG.replace("approval_poll_every: 50ms", "approval_poll_every: 1h")
WINDOW = 10 * 60


@pytest.fixture
def targets(stub_server: StubServer) -> StubServer:
    for path in ("/go", "/reduce", "/rollback"):
        stub_server.route("POST", path, json={})
    return stub_server


@pytest.fixture
async def team(make_bot: BotFactory, targets: StubServer) -> ConsoleBot:
    return await make_bot(config=CONFIG, playbooks=PLAYBOOKS)


async def kinds(bot: ConsoleBot, run_id: int) -> list[str]:
    return [e.kind for e in await bot.deps.store.audit_events(run_id=run_id)]


async def status(bot: ConsoleBot, run_id: int) -> RunStatus:
    run = await bot.deps.store.get_run(run_id)
    assert run is not None
    return run.status


def asked(bot: ConsoleBot, text: str) -> bool:
    return any(text in m.text for m in bot.chat.messages if m.kind == "thread")


async def paused_at_gate(bot: ConsoleBot) -> None:
    await bot.send("/playbook canary-rollback", user="alice")
    await bot.press("Run", 1, user="alice")
    await bot.wait_until(lambda: asked(bot, "🔐 Approval needed for step `rollback` of run #1"))


# -- the run's own window -------------------------------------------------------------


@pytest.mark.parametrize("late", [0, 1], ids=["at-expiry", "after-expiry"])
async def test_the_deciding_approval_after_the_window_expires_the_run_instead(
    team: ConsoleBot, clock: FastClock, targets: StubServer, late: int
) -> None:
    await team.send("/playbook two-key", user="alice")
    await team.press("Approve", 1, user="bob")
    clock.advance(WINDOW + late)  # no check has run since

    await team.press("Approve", 1, user="carol")
    await team.service.wait_idle()

    assert await status(team, 1) is RunStatus.EXPIRED
    assert team.private("carol") == ["Can't approve run #1: it expired before it was approved."]
    assert "⌛ Run #1 expired: it was not approved within 10m." in team.thread(1)
    assert team.card(1).status == "Expired before it was approved"
    assert [d.actor for d in await team.deps.store.decisions(1)] == ["shell:bob"]
    assert await kinds(team, 1) == ["run.created", "approval.approve", "run.expired"]
    assert targets.requests == []


async def test_a_deny_after_the_window_expires_the_run_rather_than_denying_it(
    team: ConsoleBot, clock: FastClock
) -> None:
    await team.send("/playbook two-key", user="alice")
    clock.advance(WINDOW)

    await team.press("Deny", 1, user="carol", reason="too late anyway")

    assert await status(team, 1) is RunStatus.EXPIRED
    assert team.private("carol") == ["Can't deny run #1: it expired before it was approved."]
    assert await team.deps.store.decisions(1) == []
    assert await kinds(team, 1) == ["run.created", "run.expired"]


async def test_a_refused_clicker_after_the_window_still_learns_it_expired(
    team: ConsoleBot, clock: FastClock
) -> None:
    await team.send("/playbook two-key", user="alice")
    clock.advance(WINDOW)

    await team.press("Approve", 1, user="dave")  # not an approver; the run expires anyway

    assert team.private("dave") == ["Can't approve run #1: it expired before it was approved."]
    assert await status(team, 1) is RunStatus.EXPIRED


async def test_a_window_that_lapsed_while_no_bot_ran_is_expired_at_start(
    make_bot: BotFactory, clock: FastClock, targets: StubServer
) -> None:
    first = await make_bot(config=CONFIG, playbooks=PLAYBOOKS)
    await first.send("/playbook self-ok", user="alice")
    await first.close()
    clock.advance(31 * 60)  # self-ok keeps the default window of 30 minutes

    second = await make_bot(config=CONFIG, playbooks=PLAYBOOKS)

    assert await status(second, 1) is RunStatus.EXPIRED
    await second.press("Approve", 1, user="carol")
    assert second.private("carol") == ["Can't approve run #1: it expired before it was approved."]
    assert targets.requests == []


# -- a step gate's window -------------------------------------------------------------


@pytest.mark.parametrize("late", [0, 1], ids=["at-expiry", "after-expiry"])
async def test_a_step_gate_approved_after_its_window_does_not_run_the_step(
    make_bot: BotFactory, clock: FastClock, targets: StubServer, late: int
) -> None:
    bot = await make_bot(config=SLOW_POLL, playbooks=PLAYBOOKS)
    await paused_at_gate(bot)
    clock.advance(WINDOW + late)

    await bot.press("Approve", 1, user="carol")
    run = await bot.finished(1)

    assert bot.private("carol") == [
        "Can't approve step `rollback` of run #1: its approval expired at 10:10 UTC."
    ]
    assert run.status is RunStatus.FAILED
    assert run.error == "step `rollback` failed: approval expired after 10m"
    assert targets.calls("POST", "/rollback") == []
    assert await bot.deps.store.decisions(1) == []


async def test_a_step_gate_decided_inside_its_window_counts_even_if_seen_after_it(
    make_bot: BotFactory, clock: FastClock, targets: StubServer
) -> None:
    bot = await make_bot(config=SLOW_POLL, playbooks=PLAYBOOKS)
    await paused_at_gate(bot)
    clock.advance(WINDOW - 1)

    await bot.press("Approve", 1, user="carol")
    clock.advance(60)  # the gate may look only after its window: the decision still counts
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert len(targets.calls("POST", "/rollback")) == 1


async def test_a_step_gate_reminds_once_then_expires_with_the_injected_clock(
    team: ConsoleBot, clock: FastClock, targets: StubServer
) -> None:
    await paused_at_gate(team)
    reminder = "⏰ Reminder: still waiting for step `rollback` of run #1"

    clock.advance(7 * 60)  # 3 of 10 minutes left: not yet
    await team.service.check_approvals()
    await asyncio.sleep(0.2)  # several of the gate's polls
    assert not asked(team, reminder)

    clock.advance(60)  # 2 minutes left: a fifth of the window
    await team.service.check_approvals()
    await team.wait_until(lambda: asked(team, reminder))
    await team.service.check_approvals()
    await asyncio.sleep(0.2)
    reminders = [t for t in team.thread(1) if t.startswith(reminder)]
    assert len(reminders) == 1
    assert "@bob @carol" in reminders[0]
    assert "expires 10:10 UTC" in reminders[0]

    clock.advance(2 * 60)
    await team.service.check_approvals()
    run = await team.finished(1)

    assert run.status is RunStatus.FAILED
    assert run.error == "step `rollback` failed: approval expired after 10m"
    assert targets.calls("POST", "/rollback") == []
    steps = {s.step_id: s.status for s in await team.deps.store.steps(1)}
    assert steps == {"reduce": StepStatus.SUCCEEDED, "rollback": StepStatus.FAILED}


# -- restarts -------------------------------------------------------------------------


def thread_texts(bot: ConsoleBot) -> list[str]:
    """Everything a restarted bot said in threads (its card for an old run is a new post)."""
    return [m.text for m in bot.chat.messages if m.kind == "thread"]


async def test_a_restart_at_a_pending_step_gate_interrupts_and_resume_keeps_its_expiry(
    make_bot: BotFactory, clock: FastClock, targets: StubServer
) -> None:
    first = await make_bot(config=CONFIG, playbooks=PLAYBOOKS)
    await paused_at_gate(first)
    assert "expires 10:10 UTC" in first.thread(1)[-1]
    clock.advance(5 * 60)
    await first.close()
    assert await status(first, 1) is RunStatus.INTERRUPTED

    second = await make_bot(config=CONFIG, playbooks=PLAYBOOKS)
    await second.press("Resume", 1, user="alice")
    await second.wait_until(lambda: asked(second, "🔐 Approval needed for step `rollback`"))

    request = thread_texts(second)[-1]
    assert "expires 10:10 UTC" in request  # the stored expiry, not five minutes later
    [gate] = [s for s in await second.deps.store.steps(1) if s.step_id == "rollback"]
    assert gate.status is StepStatus.WAITING
    assert gate.expires_at is not None and f"{gate.expires_at:%H:%M}" == "10:10"
    await second.press("Approve", 1, user="carol")
    run = await second.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert len(targets.calls("POST", "/reduce")) == 1  # not repeated by the resume
    assert len(targets.calls("POST", "/rollback")) == 1


async def test_a_step_gate_whose_window_passed_during_a_restart_fails_on_resume(
    make_bot: BotFactory, clock: FastClock, targets: StubServer
) -> None:
    first = await make_bot(config=CONFIG, playbooks=PLAYBOOKS)
    await paused_at_gate(first)
    await first.close()
    clock.advance(WINDOW + 60)

    second = await make_bot(config=CONFIG, playbooks=PLAYBOOKS)
    await second.press("Resume", 1, user="alice")
    run = await second.finished(1)

    assert run.status is RunStatus.FAILED
    assert run.error == "step `rollback` failed: approval expired after 10m"
    assert not asked(second, "🔐 Approval needed")  # nobody is asked for a closed window
    assert targets.calls("POST", "/rollback") == []


async def test_a_step_gate_approved_before_a_restart_is_not_asked_again(
    make_bot: BotFactory, targets: StubServer
) -> None:
    first = await make_bot(config=SLOW_POLL, playbooks=PLAYBOOKS)
    await paused_at_gate(first)
    # Recorded while the step waits, as another replica would; this bot sees it only when
    # its gate looks again, and it stops before that.
    await first.deps.store.record_decision(
        run_id=1,
        step_id="rollback",
        actor=first.session.actor("carol"),
        decision="approve",
    )
    await first.close()

    second = await make_bot(config=CONFIG, playbooks=PLAYBOOKS)
    await second.press("Resume", 1, user="alice")
    run = await second.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert not asked(second, "🔐 Approval needed")
    assert len(targets.calls("POST", "/rollback")) == 1


async def test_a_gate_request_left_by_a_restart_says_so_and_resume_asks_again(
    make_bot: BotFactory, targets: StubServer
) -> None:
    first = await make_bot(config=CONFIG, playbooks=PLAYBOOKS)
    await paused_at_gate(first)
    await first.close()
    [left] = [m for m in first.chat.messages if m.text.startswith("🔐 Approval needed for step")]
    assert left.buttons == []
    assert left.text.endswith("\n⏸ Interrupted before this was decided; Resume asks again.")

    second = await make_bot(config=CONFIG, playbooks=PLAYBOOKS)
    await second.press("Resume", 1, user="alice")
    await second.wait_until(lambda: asked(second, "🔐 Approval needed for step `rollback`"))
    [again] = [m for m in second.chat.messages if m.text.startswith("🔐 Approval needed")]
    assert [b.label for b in again.buttons] == ["Approve", "Deny"]
    await second.press("Approve", 1, user="carol")
    assert (await second.finished(1)).status is RunStatus.SUCCEEDED
    assert again.text.endswith("\n✅ Approved by carol.")


async def test_a_short_window_shows_its_end_to_the_second_and_a_long_one_to_the_minute(
    make_bot: BotFactory, targets: StubServer
) -> None:
    short = PLAYBOOKS["two-key"].replace("expires_after: 10m", "expires_after: 20s")
    bot = await make_bot(config=CONFIG, playbooks={"two-key": short})
    said = await bot.send("/playbook two-key", user="alice")
    assert said[0].card is not None
    approval = next(f.value for f in said[0].card.fields if f.label == "Approval")
    assert approval.endswith("expires 10:00:20 UTC")
    assert said[1].text.endswith("expires 10:00:20 UTC.")

    long = await make_bot(config=CONFIG, playbooks=PLAYBOOKS)
    said = await long.send("/playbook two-key", user="alice")
    assert said[1].text.endswith("expires 10:10 UTC.")
