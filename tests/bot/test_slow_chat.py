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
    for run_id in (1, 2, 3):
        await bot.send("/playbook ping")
        await bot.press("Run", run_id)
        run = await bot.finished(run_id)

        assert run.status is RunStatus.SUCCEEDED
        assert bot.card(run_id).status.startswith("Succeeded")
        assert bot.thread(run_id)[-1].startswith(f"✅ Run #{run_id} succeeded")
