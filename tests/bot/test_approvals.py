"""Approvals and access control, through the console: every rule a team relies on."""

from __future__ import annotations

import asyncio

import pytest

from bot.lifecycle import RunStatus, StepStatus
from handlers.shell.output import ShellMessage
from handlers.shell.testing import ConsoleBot
from tests.bot.approval_playbooks import CONFIG, PLAYBOOKS
from tests.support.clock import FastClock
from tests.support.console import BotFactory
from tests.support.stub_server import StubServer


@pytest.fixture
async def team(make_bot: BotFactory, stub_server: StubServer) -> ConsoleBot:
    stub_server.route("POST", "/go", json={})
    stub_server.route("POST", "/reduce", json={})
    stub_server.route("POST", "/rollback", json={})
    return await make_bot(config=CONFIG, playbooks=PLAYBOOKS)


async def test_only_allowed_roles_start_and_only_in_their_channels(team: ConsoleBot) -> None:
    await team.send("/playbook two-key", user="mallory")
    assert team.private("mallory") == [
        "You can't start `two-key`: it is limited to `sre`. Ask someone who holds one of them."
    ]
    team.session.channel = "random"
    await team.send("/playbook two-key", user="alice")
    assert team.private("alice") == ["`two-key` can only be started in #incidents."]
    assert await team.deps.store.list_runs() == []


async def test_request_in_thread_mentions_approvers_and_two_approvals_start_it_once(
    team: ConsoleBot, stub_server: StubServer
) -> None:
    said = await team.send("/playbook two-key", user="alice")
    card = said[0].card
    assert card is not None
    assert card.status == "Waiting for approval"
    assert [b.label for b in card.buttons] == ["Cancel"]
    approval = next(f.value for f in card.fields if f.label == "Approval")
    assert approval.startswith("0 of 2 from `sre-lead`; waiting for 2 more; expires")
    request = said[1]
    assert request.thread_of == said[0].id
    assert "🔐 Approval needed for run #1" in request.text
    assert "@bob @carol" in request.text
    assert [b.label for b in request.buttons] == ["Approve", "Deny"]

    await team.press("Approve", 1, user="bob")
    assert "1 of 2 from `sre-lead`; approved by bob; waiting for 1 more" in _approval(team, 1)
    assert stub_server.calls("POST", "/go") == []

    await team.press("Approve", 1, user="carol")
    run = await team.finished(1)
    assert run.status is RunStatus.SUCCEEDED
    assert len(stub_server.calls("POST", "/go")) == 1
    assert "✅ Approved by bob, carol. Starting run #1." in team.thread(1)


async def test_refusals_are_private_and_change_nothing(
    team: ConsoleBot, stub_server: StubServer
) -> None:
    await team.send("/playbook two-key", user="bob")
    await team.press("Approve", 1, user="dave")  # holds sre, not sre-lead
    await team.press("Approve", 1, user="bob")  # the requester
    await team.press("Run", 1, user="bob")
    await team.press("Approve", 1, user="carol")
    await team.press("Approve", 1, user="carol")  # a second click

    assert team.private("dave") == ["You may not approve or deny run #1: it needs `sre-lead`."]
    assert team.private("bob") == [
        "You requested run #1, so someone else must approve or deny it.",
        "Run #1 needs approval; it starts by itself once it is approved.",
    ]
    assert team.private("carol") == ["You have already approved run #1; it counts once."]
    decisions = await team.deps.store.decisions(1)
    assert [(d.actor, d.decision) for d in decisions] == [("shell:carol", "approve")]
    run = await team.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.PENDING
    assert stub_server.requests == []


async def test_self_approval_when_the_playbook_allows_it(
    team: ConsoleBot, stub_server: StubServer
) -> None:
    await team.send("/playbook self-ok", user="bob")
    await team.press("Approve", 1, user="bob")
    assert (await team.finished(1)).status is RunStatus.SUCCEEDED


async def test_deny_with_a_reason_ends_the_run(team: ConsoleBot, stub_server: StubServer) -> None:
    await team.send("/playbook two-key", user="alice")
    await team.press("Deny", 1, user="carol", reason="not during the freeze")
    run = await team.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.DENIED
    assert team.card(1).status == "Denied"
    assert "denied by carol: not during the freeze" in _approval(team, 1)
    assert "🚫 Denied by carol: not during the freeze" in team.thread(1)
    await team.press("Approve", 1, user="bob")
    assert team.private("bob") == ["Can't approve run #1: it was denied."]
    await team.send("/playbook status 1")
    status = team.private("alice")[-1]
    assert "• carol denied at 10:00:00 via shell: not during the freeze" in status
    assert "run.denied by shell:carol (shell)" in status
    assert stub_server.requests == []


async def test_expiry_with_a_reminder_first(
    team: ConsoleBot, clock: FastClock, stub_server: StubServer
) -> None:
    await team.send("/playbook two-key", user="alice")
    clock.advance(7 * 60)  # 3 of 10 minutes left: no reminder yet
    await team.service.check_approvals()
    assert not any("Reminder" in t for t in team.thread(1))

    clock.advance(60)  # 2 minutes left: a fifth of the window
    await team.service.check_approvals()
    await team.service.check_approvals()
    reminders = [t for t in team.thread(1) if t.startswith("⏰ Reminder")]
    assert len(reminders) == 1
    assert "@bob @carol" in reminders[0]

    clock.advance(2 * 60)
    await team.service.check_approvals()
    run = await team.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.EXPIRED
    assert team.card(1).status == "Expired before it was approved"
    assert "⌛ Run #1 expired: it was not approved within 10m." in team.thread(1)
    await team.press("Approve", 1, user="bob")
    assert team.private("bob") == ["Can't approve run #1: it expired before it was approved."]
    assert stub_server.requests == []


async def test_pending_approval_survives_a_restart_and_expiry_still_holds(
    make_bot: BotFactory, clock: FastClock, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/go", json={})
    first = await make_bot(config=CONFIG, playbooks=PLAYBOOKS)
    await first.send("/playbook two-key", user="alice")
    await first.press("Approve", 1, user="bob")
    await first.send("/playbook two-key", user="alice")
    await first.close()

    second = await make_bot(config=CONFIG, playbooks=PLAYBOOKS)
    await second.press("Approve", 1, user="carol")  # bob's earlier approval still counts
    assert (await second.finished(1)).status is RunStatus.SUCCEEDED
    clock.advance(11 * 60)
    await second.service.check_approvals()
    run = await second.deps.store.get_run(2)
    assert run is not None
    assert run.status is RunStatus.EXPIRED


async def test_the_request_does_not_mention_a_requester_who_may_not_approve(
    team: ConsoleBot,
) -> None:
    said = await team.send("/playbook two-key", user="bob")  # bob is an approver himself
    request = said[1].text
    assert "@carol:" in request
    assert "@bob" not in request


async def test_a_second_approve_after_the_run_started_says_it_was_already_approved(
    team: ConsoleBot, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/go", json={})
    await team.send("/playbook self-ok", user="alice")
    await team.press("Approve", 1, user="bob")  # one approval is enough: the run starts
    await team.press("Approve", 1, user="bob")
    assert team.private("bob") == ["You have already approved run #1; it counts once."]
    assert (await team.finished(1)).status is RunStatus.SUCCEEDED


async def test_concurrent_approvals_execute_exactly_once(
    make_bot: BotFactory, stub_server: StubServer, database_url: str
) -> None:
    stub_server.route("POST", "/go", json={})
    config = CONFIG.replace(
        "sre-lead: {shell: [bob, carol]}", "sre-lead: {shell: [b1, b2, b3, b4, b5, b6]}"
    )
    bot = await make_bot(config=config, playbooks=PLAYBOOKS, database_url=database_url)
    await bot.send("/playbook two-key", user="alice")
    presses = [bot.press("Approve", 1, user=f"b{i}") for i in range(1, 7)]
    presses += [bot.press("Approve", 1, user="b1") for _ in range(4)]  # double clicks
    await asyncio.gather(*presses)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert len(stub_server.calls("POST", "/go")) == 1
    events = await bot.deps.store.audit_events(run_id=1)
    assert [e.kind for e in events].count("run.running") == 1
    decisions = await bot.deps.store.decisions(1)
    assert len(decisions) == len({d.actor for d in decisions})


async def test_step_gate_pauses_the_run_until_approved(
    team: ConsoleBot, stub_server: StubServer
) -> None:
    await team.send("/playbook canary-rollback", user="alice")
    assert "🔐 asks for approval first" in team.card(1).plan[1]
    await team.press("Run", 1, user="alice")
    await team.wait_until(lambda: any("step `rollback` of run #1" in t for t in team.thread(1)))

    assert len(stub_server.calls("POST", "/reduce")) == 1
    assert stub_server.calls("POST", "/rollback") == []
    assert team.card(1).status == "Paused: step `rollback` waits for approval"
    await team.press("Approve", 1, user="alice")
    assert team.private("alice") == [
        "You requested run #1, so someone else must approve or deny it."
    ]
    await team.press("Approve", 1, user="carol")
    run = await team.finished(1)

    assert run.status is RunStatus.SUCCEEDED
    assert len(stub_server.calls("POST", "/rollback")) == 1
    assert any("carol approved step `rollback` of run #1" in t for t in team.thread(1))


async def test_step_gate_denied_fails_the_step_and_skips_its_action(
    team: ConsoleBot, stub_server: StubServer
) -> None:
    await team.send("/playbook canary-rollback", user="alice")
    await team.press("Run", 1, user="alice")
    await team.wait_until(lambda: any("step `rollback` of run #1" in t for t in team.thread(1)))
    await team.press("Deny", 1, user="bob", reason="canary recovered")
    run = await team.finished(1)
    said = [t for t in team.thread(1) if "bob denied" in t]
    assert said == ["🚫 bob denied step `rollback` of run #1: canary recovered."]  # said once

    assert run.status is RunStatus.FAILED
    assert run.error == "step `rollback` failed: approval denied by bob: canary recovered"
    assert stub_server.calls("POST", "/rollback") == []
    steps = {s.step_id: s.status for s in await team.deps.store.steps(1)}
    assert steps == {"reduce": StepStatus.SUCCEEDED, "rollback": StepStatus.FAILED}


async def test_step_gate_not_required_runs_straight_through(
    team: ConsoleBot, stub_server: StubServer
) -> None:
    await team.send("/playbook canary-rollback immediate=false", user="alice")
    await team.press("Run", 1, user="alice")
    assert (await team.finished(1)).status is RunStatus.SUCCEEDED
    assert len(stub_server.calls("POST", "/rollback")) == 1


async def test_approvers_may_cancel_others_may_not(team: ConsoleBot) -> None:
    await team.send("/playbook two-key", user="alice")
    await team.send("/playbook cancel 1", user="dave")
    assert team.private("dave") == [
        "Only alice, who requested run #1 or `sre-lead`, can cancel it."
    ]
    await team.send("/playbook cancel 1", user="carol")
    run = await team.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.CANCELLED


async def test_refresh_synonyms_reindex_needs_sre_lead(make_bot: BotFactory) -> None:
    bot = await make_bot(config=CONFIG)
    said = await bot.send("/playbook refresh-synonyms reindex=true", user="alice")
    assert said[0].card is not None
    assert said[0].card.status == "Waiting for approval"
    said = await bot.send("/playbook refresh-synonyms", user="alice")
    assert said[0].card is not None
    assert said[0].card.status == "Dry run ready: waiting for Run"


def _approval(bot: ConsoleBot, run_id: int) -> str:
    return next(f.value for f in bot.card(run_id).fields if f.label == "Approval")


# -- requests say how they were decided ------------------------------------------------


def _requests(bot: ConsoleBot, run_id: int) -> list[ShellMessage]:
    """The approval requests (and reminders) in the run's thread, oldest first."""
    card_id = bot.card_message(run_id).id
    return [
        m
        for m in bot.chat.messages
        if m.thread_of == card_id and m.text.startswith(("🔐 Approval needed", "⏰ Reminder"))
    ]


async def test_requests_keep_their_buttons_until_decided_then_say_who_approved(
    team: ConsoleBot, clock: FastClock
) -> None:
    await team.send("/playbook two-key", user="alice")
    clock.advance(8 * 60)  # 2 of 10 minutes left: a reminder
    await team.service.check_approvals()
    await team.press("Approve", 1, user="bob")
    first, reminder = _requests(team, 1)
    assert [b.label for b in first.buttons] == [b.label for b in reminder.buttons]
    assert [b.label for b in first.buttons] == ["Approve", "Deny"]  # 1 of 2: still open

    await team.press("Approve", 1, user="carol")
    await team.finished(1)

    for request in (first, reminder):
        assert request.buttons == []
        assert request.edits == 1
        assert request.text.endswith("\n✅ Approved by bob, carol.")
    assert first.text.startswith("🔐 Approval needed for run #1")
    assert any(line.startswith("  ↻ [#1] 🔐 Approval needed for run #1") for line in team.lines)


@pytest.mark.parametrize(
    ("decide", "outcome"),
    [
        ("deny", "🚫 Denied by carol: not during the freeze"),
        ("expire", "⌛ Expired: not approved within 10m."),
        ("cancel", "⛔ Cancelled by carol."),
    ],
)
async def test_a_request_ended_otherwise_says_how_and_loses_its_buttons(
    team: ConsoleBot, clock: FastClock, decide: str, outcome: str
) -> None:
    await team.send("/playbook two-key", user="alice")
    if decide == "deny":
        await team.press("Deny", 1, user="carol", reason="not during the freeze")
    elif decide == "expire":
        clock.advance(11 * 60)
        await team.service.check_approvals()
    else:
        await team.send("/playbook cancel 1", user="carol")

    [request] = _requests(team, 1)
    assert request.buttons == []
    assert request.text.endswith(f"\n{outcome}")


async def test_a_step_gate_request_says_how_it_was_decided(
    team: ConsoleBot, stub_server: StubServer
) -> None:
    for run_id, user, button in ((1, "carol", "Approve"), (2, "bob", "Deny")):
        await team.send("/playbook canary-rollback", user="alice")
        await team.press("Run", run_id, user="alice")
        await team.wait_until(lambda r=run_id: bool(_requests(team, r)))
        await team.press(button, run_id, user=user, reason="canary recovered")
        await team.finished(run_id)

    [approved] = _requests(team, 1)
    [denied] = _requests(team, 2)
    assert approved.text.startswith("🔐 Approval needed for step `rollback` of run #1")
    assert approved.text.endswith("\n✅ Approved by carol.")
    assert denied.text.endswith("\n🚫 Denied by bob: canary recovered")
    assert approved.buttons == denied.buttons == []


async def test_metrics_count_approvals_requested_decided_and_expired(
    team: ConsoleBot, stub_server: StubServer, clock: FastClock
) -> None:
    from prometheus_client import generate_latest

    stub_server.route("POST", "/go", json={})
    await team.send("/playbook two-key", user="alice")
    clock.advance(90)
    await team.press("Approve", 1, user="bob")
    await team.press("Deny", 1, user="carol", reason="not today")
    await team.send("/playbook two-key", user="alice")
    clock.advance(11 * 60)
    await team.service.check_approvals()

    metrics = generate_latest(team.deps.metrics.registry).decode()
    assert 'chatops_approvals_requested_total{playbook="two-key",wait="run"} 2.0' in metrics
    assert 'chatops_approval_decisions_total{decision="approve",playbook="two-key"} 1.0' in metrics
    assert 'chatops_approval_decisions_total{decision="deny",playbook="two-key"} 1.0' in metrics
    assert 'chatops_approvals_expired_total{playbook="two-key",wait="run"} 1.0' in metrics
    # bob approved 90 s after the request: counted in the 120 s bucket, not the 60 s one
    assert 'chatops_approval_decision_seconds_bucket{decision="approve",le="60.0"} 0.0' in metrics
    assert 'chatops_approval_decision_seconds_bucket{decision="approve",le="120.0"} 1.0' in metrics
