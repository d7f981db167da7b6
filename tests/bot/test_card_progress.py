"""The card's status line says which step a run is at: during rollback, the rollback step
(numbered in the order rollback runs them), and after Resume, the step being run again."""

from __future__ import annotations

from bot.lifecycle import RunStatus
from tests.support.console import BotFactory
from tests.support.stub_server import StubResponse, StubServer

UNDOABLE = """
name: undoable
steps:
  - {id: a, action: http, with: {method: POST, url: "{{ env.API_URL }}/a"}}
  - {id: b, action: http, with: {method: POST, url: "{{ env.API_URL }}/b"}}
  - {id: c, action: http, with: {method: POST, url: "{{ env.API_URL }}/c"}}
rollback:
  - {id: undo_a, action: http, with: {method: POST, url: "{{ env.API_URL }}/undo_a"}}
  - {id: undo_b, action: http, with: {method: POST, url: "{{ env.API_URL }}/undo_b"}}
"""


async def test_the_card_names_the_rollback_step_while_it_runs(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/a", json={})
    stub_server.route("POST", "/b", status=500, json={"error": "no"})
    stub_server.route_sequence("POST", "/undo_b", [StubResponse(json={}, delay=0.5)])
    stub_server.route("POST", "/undo_a", json={})
    bot = await make_bot(playbooks={"undoable": UNDOABLE})
    await bot.send("/playbook undoable")
    await bot.press("Run", 1)
    await bot.wait_until(lambda: bot.card(1).status.startswith("Rolling back"))
    assert bot.card(1).status == "Rolling back 1 of 2: `undo_b`"
    run = await bot.finished(1)
    assert run.status is RunStatus.ROLLED_BACK
    assert not any("Running step 3 of 3" in line for line in bot.lines)  # c never ran


async def test_after_resume_the_card_names_the_step_run_again(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/a", json={})
    stub_server.route_sequence(
        "POST",
        "/b",
        [StubResponse(json={}, delay=5.0), StubResponse(json={}, delay=0.5)],
    )
    stub_server.route("POST", "/c", json={})
    first = await make_bot(playbooks={"undoable": UNDOABLE})
    await first.send("/playbook undoable")
    await first.press("Run", 1)
    await first.wait_until(lambda: len(stub_server.calls("POST", "/b")) == 1)
    await first.close()  # step b was running: the run is interrupted

    second = await make_bot(playbooks={"undoable": UNDOABLE})
    await second.press("Resume", 1)
    await second.wait_until(lambda: len(stub_server.calls("POST", "/b")) == 2)
    await second.wait_until(lambda: second.card(1).status.startswith("Running step 2"))
    assert second.card(1).status == "Running step 2 of 3: `b`"
    assert (await second.finished(1)).status is RunStatus.SUCCEEDED


async def test_a_finished_step_line_does_not_repeat_what_the_plan_says(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/a", json={})
    stub_server.route("POST", "/b", json={})
    stub_server.route("POST", "/c", json={})
    bot = await make_bot(playbooks={"undoable": UNDOABLE})
    await bot.send("/playbook undoable")
    await bot.press("Run", 1)
    await bot.finished(1)
    line = bot.card(1).plan[0]
    assert line == f"✅ 1. `a` POST {stub_server.url}/a → 200"
