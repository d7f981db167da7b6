"""Approvals on Telegram behave as the core decides them everywhere: step gates, expiry,
and an interrupted run's Resume / Abort."""

from __future__ import annotations

from pathlib import Path

from bot.lifecycle import RunStatus
from tests.bot.approval_playbooks import GATED
from tests.handlers.telegram.conftest import (
    CHAT,
    TelegramBot,
    running_telegram_bot,
    write_playbooks,
)
from tests.support.clock import FastClock
from tests.support.fake_telegram import ALICE, BOB, FakeTelegram
from tests.support.stub_server import StubServer


async def status(bot: TelegramBot, run_id: int) -> RunStatus:
    run = await bot.deps.store.get_run(run_id)
    assert run is not None
    return run.status


async def test_a_step_gate_asks_in_a_reply_to_the_card_and_an_approval_lets_the_run_go_on(
    fake_telegram: FakeTelegram,
    stub_server: StubServer,
    tmp_path: Path,
    target_env: dict[str, str],
    clock: FastClock,
) -> None:
    for path in ("/reduce", "/rollback"):
        stub_server.route("POST", path, json={})
    write_playbooks(tmp_path / "bot" / "playbooks", {"gated.yaml": GATED})
    async with running_telegram_bot(fake_telegram, tmp_path / "bot", target_env, clock) as bot:
        await bot.command("/playbook canary-rollback")
        await bot.press("Run", user=ALICE, runs=False)
        await bot.wait_until(lambda: any(m.buttons for m in bot.thread(1)))
        [request] = [m for m in bot.thread(1) if m.buttons]
        assert request.text.startswith("🔐 Approval needed for step rollback of run #1")
        assert [label for label, _ in request.buttons] == ["Approve", "Deny"]
        assert "Paused: step rollback waits for approval" in bot.card(1).text

        mine = await bot.press("Approve", user=ALICE, runs=False)
        assert bot.answer(mine)["text"] == (
            "You requested run #1, so someone else must approve or deny it."
        )
        await bot.press("Approve", user=BOB)
        assert await status(bot, 1) is RunStatus.SUCCEEDED
        assert len(stub_server.calls("POST", "/rollback")) == 1
        request = fake_telegram.message(CHAT, request.id)
        assert request.buttons == [] and "Approved" in request.text.splitlines()[-1]


async def test_an_approval_window_that_passes_expires_the_run_and_closes_its_request(
    telegram: TelegramBot, clock: FastClock, stub_server: StubServer
) -> None:
    await telegram.command("/playbook restart-service service=api")
    [request] = telegram.thread(1)
    clock.advance(31 * 60)
    await telegram.service.check_approvals()
    await telegram.settle()
    assert await status(telegram, 1) is RunStatus.EXPIRED
    request = telegram.fake.message(CHAT, request.id)
    assert request.buttons == []
    assert request.text.splitlines()[-1].startswith("⌛ Expired: not approved within")
    assert "Expired before it was approved" in telegram.card(1).text
    assert stub_server.requests == []


async def test_an_interrupted_run_offers_resume_and_abort_and_abort_cancels_it(
    telegram: TelegramBot,
) -> None:
    await telegram.command("/playbook clear-cache")
    store = telegram.deps.store
    # What a replica dying mid-run leaves, as the sweep of another one finds it.
    running = await store.transition(
        1, expected={RunStatus.PENDING}, to=RunStatus.RUNNING, actor="t", surface="t", owner="gone"
    )
    assert running is not None
    interrupted = await store.transition(
        1,
        expected={RunStatus.RUNNING},
        to=RunStatus.INTERRUPTED,
        actor="system",
        surface="system",
        error="the process running it (gone) stopped",
    )
    assert interrupted is not None
    await telegram.service.progress.run_changed(interrupted)
    await telegram.settle()

    assert [label for label, _ in telegram.card(1).buttons] == ["Resume", "Abort"]
    offer = telegram.fake.find(CHAT, "Abort", "was interrupted")
    assert [label for label, _ in offer.buttons] == ["Resume", "Abort"]
    await telegram.press("Abort", user=ALICE, containing="was interrupted")
    assert await status(telegram, 1) is RunStatus.CANCELLED
