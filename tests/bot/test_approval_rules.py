"""Approval rules seen from chat: the runbooks' policies, step gates on the card, Resume's
right, confirm dialogs, and decisions racing on one bot or on two replicas."""

from __future__ import annotations

import asyncio

import pytest

from bot.chat import ButtonAction
from bot.lifecycle import RunStatus
from handlers.shell.testing import ConsoleBot
from tests.bot.approval_playbooks import CONFIG, GATED, PLAYBOOKS
from tests.support.console import BotFactory
from tests.support.stub_server import StubServer

# The runbooks' approval rules (shared/seeds: "Requires approval: Yes, if …"), as playbooks.
# They replace the built-in ones, so they take every param the built-in combinations pass.
RERUN_DBT = """
name: rerun-dbt
params:
  models: {type: list, default: [inbox_emails]}
  threads: {type: integer, default: 4}
  full_refresh: {type: boolean, default: false}
approval: {required: "{{ params.full_refresh }}", approvers: [sre-lead]}
steps:
  - id: rerun
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/dbt"}
"""

ROLLBACK_PLANNER = """
name: rollback-planner
params:
  to_version: {type: string, default: v1.2.2}
  immediate: {type: boolean, default: false}
approval: {required: "{{ params.immediate }}", approvers: [sre-lead]}
steps:
  - id: rollback
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/rollback"}
"""

ADJUST_CANARY_SPLIT = """
name: adjust-canary-split
params:
  version: {type: string, default: v1.2.3-canary}
  gradual: {type: boolean, default: true}
  current_percent: {type: integer, default: 10}
  target_percent: {type: integer, required: true}
approval:
  required: "{{ params.target_percent > params.current_percent }}"
  approvers: [sre-lead]
steps:
  - id: split
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/split"}
"""

TWO_GATES = GATED.replace("name: canary-rollback", "name: two-key-rollback").replace(
    "approvers: [sre-lead], expires_after: 10m",
    "approvers: [sre-lead], min_approvals: 2, expires_after: 10m",
)
TEAM_DECIDES = """
name: team-decides
allowed: [sre]
approval: {required: true}
steps:
  - id: go
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/go"}
"""
RESTRICTED = GATED.replace("name: canary-rollback", "name: sre-rollback\nallowed: [sre]")
TEAM = CONFIG.replace("sre-lead: {shell: [bob, carol]}", "sre-lead: {shell: [bob, carol, erin]}")


@pytest.fixture
def targets(stub_server: StubServer) -> StubServer:
    for path in ("/go", "/reduce", "/rollback", "/dbt", "/split"):
        stub_server.route("POST", path, json={})
    return stub_server


@pytest.fixture
async def team(make_bot: BotFactory, targets: StubServer) -> ConsoleBot:
    playbooks = {
        **PLAYBOOKS,
        "rerun-dbt": RERUN_DBT,
        "rollback-planner": ROLLBACK_PLANNER,
        "adjust-canary-split": ADJUST_CANARY_SPLIT,
        "two-gates": TWO_GATES,
        "restricted": RESTRICTED,
        "team-decides": TEAM_DECIDES,
    }
    return await make_bot(config=TEAM, playbooks=playbooks)


def approval(bot: ConsoleBot, run_id: int) -> str:
    return next(f.value for f in bot.card(run_id).fields if f.label == "Approval")


def asked(bot: ConsoleBot, text: str) -> bool:
    return any(text in m.text for m in bot.chat.messages if m.kind == "thread")


# -- the runbooks' rules --------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "needs_approval"),
    [
        ("rerun-dbt", False),
        ("rerun-dbt full_refresh=false", False),
        ("rerun-dbt full_refresh=true", True),
        ("rollback-planner", False),
        ("rollback-planner immediate=true", True),
        ("adjust-canary-split target_percent=5", False),  # reducing traffic
        ("adjust-canary-split target_percent=10", False),  # unchanged
        ("adjust-canary-split target_percent=25", True),  # increasing traffic
        ("adjust-canary-split current_percent=30 target_percent=25", False),
    ],
)
async def test_the_runbooks_approval_rules(
    team: ConsoleBot, command: str, needs_approval: bool
) -> None:
    said = await team.send(f"/playbook {command}", user="alice")

    card = said[0].card
    assert card is not None
    if needs_approval:
        assert card.status == "Waiting for approval"
        assert approval(team, 1).startswith("0 of 1 from `sre-lead`; waiting for 1 more")
        assert "🔐 Approval needed for run #1" in said[1].text
    else:
        assert card.status == "Dry run ready: waiting for Run"
        assert approval(team, 1).startswith("not required")
        assert len(said) == 1


async def test_an_increase_of_the_canary_split_runs_once_approved(
    team: ConsoleBot, targets: StubServer
) -> None:
    await team.send("/playbook adjust-canary-split target_percent=25", user="alice")
    await team.press("Run", 1, user="alice")
    assert targets.calls("POST", "/split") == []

    await team.press("Approve", 1, user="bob")

    assert (await team.finished(1)).status is RunStatus.SUCCEEDED
    assert len(targets.calls("POST", "/split")) == 1


async def test_without_approvers_those_allowed_to_start_it_decide(
    team: ConsoleBot, targets: StubServer
) -> None:
    said = await team.send("/playbook team-decides", user="alice")
    assert approval(team, 1).startswith("0 of 1 from `sre`; waiting for 1 more")
    assert "bob" in said[1].text  # the request mentions those who may decide

    await team.press("Approve", 1, user="erin")  # a lead, but not in `sre`
    assert team.private("erin") == ["You may not approve or deny run #1: it needs `sre`."]
    assert targets.calls("POST", "/go") == []

    await team.press("Approve", 1, user="dave")
    assert (await team.finished(1)).status is RunStatus.SUCCEEDED
    assert len(targets.calls("POST", "/go")) == 1


# -- step gates on the card -----------------------------------------------------------


async def test_the_card_shows_a_step_gate_and_each_decision_on_it(
    team: ConsoleBot, targets: StubServer
) -> None:
    await team.send("/playbook two-key-rollback", user="alice")
    assert approval(team, 1).startswith("not required")
    await team.press("Run", 1, user="alice")

    await shows(
        team, "step `rollback`: 0 of 2 from `sre-lead`; waiting for 2 more; expires 10:10 UTC"
    )
    await team.press("Approve", 1, user="bob")
    await shows(
        team,
        "step `rollback`: 1 of 2 from `sre-lead`; approved by bob; waiting for 1 more;"
        " expires 10:10 UTC",
    )
    await team.press("Approve", 1, user="carol")
    assert (await team.finished(1)).status is RunStatus.SUCCEEDED
    assert approval(team, 1) == "step `rollback`: 2 of 2 from `sre-lead`; approved by bob, carol"


async def test_the_card_shows_who_denied_a_step_gate(team: ConsoleBot) -> None:
    await team.send("/playbook canary-rollback", user="alice")
    await team.press("Run", 1, user="alice")
    await team.wait_until(lambda: asked(team, "step `rollback` of run #1"))

    await team.press("Deny", 1, user="carol", reason="canary recovered")

    assert (await team.finished(1)).status is RunStatus.FAILED
    assert approval(team, 1) == "step `rollback`: denied by carol: canary recovered"


async def shows(bot: ConsoleBot, line: str) -> None:
    """Wait until the card's Approval field reads ``line`` (a running run's card is edited
    by its outbox, after the press has returned)."""
    try:
        await bot.wait_until(lambda: approval(bot, 1) == line, limit=5)
    except TimeoutError:
        assert approval(bot, 1) == line


# -- Resume ---------------------------------------------------------------------------


async def interrupted_at_gate(make_bot: BotFactory, playbook: str) -> ConsoleBot:
    """A run of ``playbook`` that stopped at its step gate when its bot shut down, and a
    fresh bot on the same database."""
    first = await make_bot(config=TEAM, playbooks={playbook: RESTRICTED})
    await first.send("/playbook sre-rollback", user="alice")
    await first.press("Run", 1, user="alice")
    await first.wait_until(lambda: asked(first, "step `rollback` of run #1"))
    await first.close()
    return await make_bot(config=TEAM, playbooks={playbook: RESTRICTED})


async def test_only_those_who_may_start_the_playbook_may_resume_it(
    make_bot: BotFactory, targets: StubServer
) -> None:
    bot = await interrupted_at_gate(make_bot, "restricted")
    events = await bot.deps.store.audit_events(run_id=1)

    await bot.press("Resume", 1, user="mallory")

    assert bot.private("mallory") == [
        "You can't resume run #1: `sre-rollback` is limited to `sre`."
    ]
    run = await bot.deps.store.get_run(1)
    assert run is not None and run.status is RunStatus.INTERRUPTED
    assert await bot.deps.store.audit_events(run_id=1) == events  # nothing audited
    assert len(targets.calls("POST", "/reduce")) == 1

    await bot.press("Resume", 1, user="dave")  # holds sre; did not request it
    await bot.wait_until(lambda: asked(bot, "Resumed by dave"))
    run = await bot.deps.store.get_run(1)
    assert run is not None and run.status is RunStatus.RUNNING


# -- confirm dialogs ------------------------------------------------------------------


async def test_approve_asks_to_confirm_on_a_high_risk_playbook_only(team: ConsoleBot) -> None:
    high = await team.send("/playbook two-key", user="alice")
    low = await team.send("/playbook self-ok", user="alice")

    approve, deny = high[1].buttons
    assert approve.action is ButtonAction.APPROVE
    assert approve.confirm == "Approve run #1 (`two-key`, high risk)?"
    assert deny.confirm is None
    assert [b.confirm for b in low[1].buttons] == [None, None]


async def test_abort_on_an_interrupted_run_asks_to_confirm(
    make_bot: BotFactory, targets: StubServer
) -> None:
    bot = await interrupted_at_gate(make_bot, "restricted")
    run = await bot.deps.store.get_run(1)
    assert run is not None
    await bot.service.progress.refresh_card(run)  # this bot shows the card afresh

    buttons = {b.label: b for b in bot.card(1).buttons}
    assert buttons["Abort"].confirm == "Abort this run?"
    assert buttons["Resume"].confirm == "Resume this run?"


# -- races ----------------------------------------------------------------------------


async def test_a_deny_racing_the_deciding_approval_leaves_one_consistent_trail(
    make_bot: BotFactory, targets: StubServer, database_url: str
) -> None:
    config = TEAM.replace("sre-lead: {shell: [bob, carol, erin]}", "sre-lead: {shell: [b, c, d]}")
    bot = await make_bot(config=config, playbooks=PLAYBOOKS, database_url=database_url)
    for run_id in range(1, 6):
        await bot.send("/playbook two-key", user="alice")
        await bot.press("Approve", run_id, user="b")

    await asyncio.gather(
        *(
            press
            for run_id in range(1, 6)
            for press in (
                bot.press("Approve", run_id, user="c"),
                bot.press("Deny", run_id, user="d", reason="stop"),
            )
        )
    )
    await bot.service.wait_idle()

    for run_id in range(1, 6):
        run = await bot.deps.store.get_run(run_id)
        assert run is not None
        decisions = [(d.actor, d.decision) for d in await bot.deps.store.decisions(run_id)]
        events = [e.kind for e in await bot.deps.store.audit_events(run_id=run_id)]
        if run.status is RunStatus.SUCCEEDED:
            assert decisions == [("shell:b", "approve"), ("shell:c", "approve")]
            assert "approval.deny" not in events
        else:
            assert run.status is RunStatus.DENIED
            assert decisions == [("shell:b", "approve"), ("shell:d", "deny")]
            assert events.count("approval.approve") == 1
            assert "run.running" not in events
        assert not any("denied by" in t for t in bot.thread(run_id) if t.startswith("👍"))
    succeeded = [r for r in await bot.deps.store.list_runs() if r.status is RunStatus.SUCCEEDED]
    assert len(targets.calls("POST", "/go")) == len(succeeded)


async def test_two_replicas_racing_approvals_execute_the_run_exactly_once(
    make_bot: BotFactory, targets: StubServer, database_url: str
) -> None:
    config = TEAM.replace(
        "sre-lead: {shell: [bob, carol, erin]}", "sre-lead: {shell: [b1, b2, b3, b4, b5, b6]}"
    )
    one = await make_bot(config=config, playbooks=PLAYBOOKS, database_url=database_url)
    two = await make_bot(config=config, playbooks=PLAYBOOKS, database_url=database_url)
    await one.send("/playbook two-key", user="alice")

    await asyncio.gather(
        *(
            replica.press("Approve", 1, user=f"b{i}")
            for i in range(1, 7)
            for replica in (one, two)  # every approver clicks on both replicas
        )
    )
    await one.service.wait_idle()
    await two.service.wait_idle()

    run = await one.deps.store.get_run(1)
    assert run is not None and run.status is RunStatus.SUCCEEDED
    assert len(targets.calls("POST", "/go")) == 1
    events = [e.kind for e in await one.deps.store.audit_events(run_id=1)]
    assert events.count("run.running") == 1
    decisions = await one.deps.store.decisions(1)
    assert len(decisions) == 2  # the threshold: nobody is recorded after it was met
    assert len({d.actor for d in decisions}) == 2
