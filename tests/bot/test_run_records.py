"""What the history and /playbook status keep of runs: dry runs, the line to paste into
incident notes, which step each audit event is about, and runs still going at twice their
estimate."""

from __future__ import annotations

from bot.lifecycle import RunStatus
from tests.bot.approval_playbooks import CONFIG
from tests.support.console import BotFactory
from tests.support.stub_server import StubResponse, StubServer

DBT = """
name: rerun-dbt-lite
title: Rerun dbt models
estimate: {duration: 1s}
params:
  models: {type: list, default: [inbox_emails]}
allowed: [sre]
approval: {required: false, approvers: [sre-lead]}
steps:
  - id: rerun
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/dbt"}
"""


async def test_a_dry_run_is_in_the_history_and_its_status_shows_the_plan_it_showed(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    bot = await make_bot(config=CONFIG, playbooks={"rerun-dbt-lite": DBT})
    [shown] = await bot.send("/playbook rerun-dbt-lite models=a,b --dry-run", user="alice")
    assert stub_server.requests == []

    [history] = await bot.send("/playbook history rerun-dbt-lite", user="bob")
    assert "🧪 #1 `rerun-dbt-lite` dry run (models=a,b) — alice" in history.text
    [status] = await bot.send("/playbook status 1", user="bob")
    assert "dry run: nothing was executed" in status.text
    assert "> " + shown.text.splitlines()[0] in status.text  # the plan as it was shown
    assert status.text.endswith("Dry run: rerun-dbt-lite (models: a, b). Nothing was executed.")
    run = await bot.deps.store.get_run(1)
    assert run is not None and run.dry_run
    [refused] = await bot.send("/playbook cancel 1", user="alice")
    assert refused.text == "Can't cancel run #1: it was a dry run: nothing was started."


async def test_status_ends_with_a_line_for_the_incident_notes_and_names_each_step(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/dbt", json={})
    bot = await make_bot(config=CONFIG, playbooks={"rerun-dbt-lite": DBT})
    await bot.send("/playbook rerun-dbt-lite models=inbox_emails", user="alice")
    await bot.press("Run", 1, user="alice")
    await bot.finished(1)
    [status] = await bot.send("/playbook status 1", user="alice")
    lines = status.text.splitlines()
    assert any(line.endswith("step.succeeded `rerun` by system (system)") for line in lines)
    assert lines[-1].startswith("Executed: rerun-dbt-lite (models: inbox_emails). ")
    assert lines[-1].endswith("Result: succeeded. Duration: 0s.")


async def test_after_abort_the_status_keeps_the_steps_and_drops_the_interruption(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    stub_server.route_sequence("POST", "/dbt", [StubResponse(json={}, delay=10.0)])
    first = await make_bot(config=CONFIG, playbooks={"rerun-dbt-lite": DBT})
    await first.send("/playbook rerun-dbt-lite", user="alice")
    await first.press("Run", 1, user="alice")
    await first.wait_until(lambda: len(stub_server.calls("POST", "/dbt")) == 1)
    await first.close()

    second = await make_bot(config=CONFIG, playbooks={"rerun-dbt-lite": DBT})
    await second.press("Abort", 1, user="alice")
    run = await second.finished(1)
    assert run.status is RunStatus.CANCELLED
    [status] = await second.send("/playbook status 1", user="alice")
    assert "⛔ `rerun` cancelled" in status.text
    assert "Error:" not in status.text
    assert "Error:" not in "\n".join(second.card(1).notes)


async def test_a_run_still_going_at_twice_its_estimate_says_so_once_to_its_approvers(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    # Estimated at 1 s, the step takes 3 s: at 2 s the thread says so.
    stub_server.route_sequence("POST", "/dbt", [StubResponse(json={}, delay=3.0)])
    bot = await make_bot(config=CONFIG, playbooks={"rerun-dbt-lite": DBT}, real_time=True)
    await bot.send("/playbook rerun-dbt-lite", user="alice")
    await bot.press("Run", 1, user="alice")
    await bot.wait_until(lambda: any("⏱" in t for t in bot.thread(1)), limit=10)
    [said] = [m for m in bot.chat.messages if m.kind == "thread" and "⏱" in m.text]
    assert said.text == (
        "⏱ @bob @carol: run #1 (`rerun-dbt-lite`) is still running after 2s, twice its "
        "estimate of 1s. Please take a look; Cancel stops it."
    )
    assert [b.label for b in said.buttons] == ["Cancel"]
    assert (await bot.finished(1)).status is RunStatus.SUCCEEDED
    assert sum("⏱" in t for t in bot.thread(1)) == 1
