"""A slow or hanging chat platform never stalls a run, and never loses how it ended."""

from __future__ import annotations

from bot.lifecycle import RunStatus
from tests.bot.slow_chat import SlowChat
from tests.support.console import BotFactory
from tests.support.stub_server import StubServer

PING = """
name: ping
steps:
  - id: call
    action: http
    with: {url: "{{ env.API_URL }}/ping"}
"""

FAST_CANCEL_CHECK = "engine: {cancel_check_every: 50ms}\n"


async def test_a_run_that_ends_keeps_its_final_card_edit_and_message(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    # The cancel watch runs every 50 ms while each chat call takes 250 ms: a run that has
    # just ended must not be mistaken for one cancelled elsewhere while it reports its end.
    stub_server.route("GET", "/ping", json={})
    bot = await make_bot(config=FAST_CANCEL_CHECK, playbooks={"ping": PING})
    SlowChat.attach(bot, delay=0.25)
    for run_id in (1, 2):
        await bot.send("/playbook ping")
        await bot.press("Run", run_id)
        run = await bot.finished(run_id)

        assert run.status is RunStatus.SUCCEEDED
        assert bot.card(run_id).status.startswith("Succeeded")
        assert bot.thread(run_id)[-1].startswith(f"✅ Run #{run_id} succeeded")


TWO_CALLS = """
name: two-calls
steps:
  - id: first
    action: http
    with: {url: "{{ env.API_URL }}/first"}
  - id: second
    action: http
    with: {url: "{{ env.API_URL }}/second"}
"""


async def test_a_slow_chat_does_not_hold_up_the_steps(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    stub_server.route("GET", "/first", json={})
    stub_server.route("GET", "/second", json={})
    bot = await make_bot(playbooks={"two": TWO_CALLS})
    SlowChat.attach(bot, delay=0.5)
    await bot.send("/playbook two-calls")
    await bot.press("Run", 1)
    await bot.wait_until(lambda: bool(stub_server.calls("GET", "/second")))

    # Both steps ran while chat was still busy with the first card edit after Run.
    assert bot.thread(1) == []
    assert bot.card(1).status == "Dry run ready: waiting for Run"

    run = await bot.finished(1)  # waits until chat has caught up, in order
    assert run.status is RunStatus.SUCCEEDED
    thread = bot.thread(1)
    assert thread[0] == "▶️ Started by alice."
    assert thread[1].startswith("✅ `first` succeeded")
    assert thread[2].startswith("✅ `second` succeeded")
    assert thread[3].startswith("✅ Run #1 succeeded")
    assert bot.card(1).status.startswith("Succeeded")


async def test_a_hanging_chat_is_given_up_and_the_card_caught_up_later(
    make_bot: BotFactory, stub_server: StubServer
) -> None:
    stub_server.route("GET", "/ping", json={})
    bot = await make_bot(playbooks={"ping": PING})
    await bot.send("/playbook ping")
    bot.service.progress.chat_timeout = 0.2
    SlowChat.attach(bot, delay=3600)  # chat stops answering once the card is up

    await bot.press("Run", 1)
    run = await bot.finished(1)

    assert run.status is RunStatus.SUCCEEDED  # stored, whatever chat did
    assert len(stub_server.calls("GET", "/ping")) == 1
    assert bot.thread(1) == []  # every post was given up
    assert bot.card(1).status == "Dry run ready: waiting for Run"

    bot.service.attach(bot.chat)  # chat answers again
    await bot.service.progress.resync_cards()
    assert bot.card(1).status.startswith("Succeeded")
