"""The console behaves like a chat client: risky presses ask first, and a console started
again on the same store keeps each run's card and thread together."""

from __future__ import annotations

from bot.lifecycle import RunStatus
from tests.support.console import BotFactory
from tests.support.stub_server import StubResponse, StubServer

SLOW = """
name: slow-change
title: Slow change
risk: medium
steps:
  - id: before
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/before"}
  - id: after
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/after"}
"""


async def test_pressing_run_on_a_risky_playbook_asks_to_confirm_first(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/before", json={})
    stub_server.route_sequence("POST", "/after", [StubResponse(json={}, delay=10.0)])
    bot = await make_bot(playbooks={"slow-change": SLOW})
    await bot.send("/playbook slow-change", user="alice")
    said = await bot.send(":press Run 1", user="alice")
    assert [m.text for m in said] == [
        "⚠️ Run slow-change now? Type `:confirm` to go ahead; anything else cancels."
    ]
    assert stub_server.requests == []

    await bot.send("/playbook status 1", user="alice")  # anything else cancels the press
    said = await bot.send(":confirm", user="alice")
    assert [m.text for m in said] == ["Nothing is waiting to be confirmed."]
    run = await bot.deps.store.get_run(1)
    assert run is not None and run.status is RunStatus.PENDING

    await bot.send(":press Run 1", user="alice")
    await bot.send(":confirm", user="alice")
    await bot.wait_until(lambda: len(stub_server.calls("POST", "/before")) == 1)
    run = await bot.deps.store.get_run(1)
    assert run is not None and run.status is RunStatus.RUNNING


async def test_abort_asks_to_confirm_and_someone_else_cannot_confirm_it(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/before", json={})
    stub_server.route_sequence("POST", "/after", [StubResponse(json={}, delay=10.0)])
    first = await make_bot(playbooks={"slow-change": SLOW})
    await first.send("/playbook slow-change", user="alice")
    await first.press("Run", 1, user="alice")
    await first.wait_until(lambda: len(stub_server.calls("POST", "/after")) == 1)
    await first.close()  # the run is interrupted: Resume / Abort

    second = await make_bot(playbooks={"slow-change": SLOW})
    said = await second.send(":press Abort 1", user="alice")
    assert said[-1].text == "⚠️ Abort this run? Type `:confirm` to go ahead; anything else cancels."
    said = await second.send(":confirm", user="bob")
    assert [m.text for m in said] == ["Nothing is waiting to be confirmed."]
    run = await second.deps.store.get_run(1)
    assert run is not None and run.status is RunStatus.INTERRUPTED


async def test_a_console_started_again_edits_the_card_it_showed_and_names_the_run(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/before", json={})
    stub_server.route_sequence(
        "POST", "/after", [StubResponse(json={}, delay=10.0), StubResponse(json={}, delay=10.0)]
    )
    first = await make_bot(playbooks={"slow-change": SLOW})
    await first.send("/playbook slow-change", user="alice")
    await first.press("Run", 1, user="alice")
    await first.wait_until(lambda: len(stub_server.calls("POST", "/after")) == 1)
    await first.close()

    second = await make_bot(playbooks={"slow-change": SLOW})
    await second.press("Resume", 1, user="alice")
    await second.wait_until(lambda: len(stub_server.calls("POST", "/after")) == 2)
    await second.press("Cancel", 1, user="alice")
    await second.finished(1)

    cards = [m for m in second.chat.messages if m.kind == "card"]
    assert len(cards) == 1  # shown afresh once, then edited in place
    assert cards[0].edits >= 1
    thread_lines = [line for line in second.lines if line.startswith("  ↳")]
    assert thread_lines
    assert all(line.startswith("  ↳ [#1] ") for line in thread_lines)
    assert "▶️ Resumed by alice" in second.thread(1)[0]
