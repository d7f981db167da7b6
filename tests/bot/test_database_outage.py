"""PostgreSQL going away under a working bot, at the network: what users see, and after.

The bot reaches its database through a TCP proxy (tests.support.tcp_proxy) that a test cuts
(every connection reset, new ones refused), blackholes (new connections never answered) and
restores. Only this bot's connections go through it; the server and everyone else's
connections to it are untouched.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio

from bot.chat import ButtonAction
from bot.db.records import RunRecord
from bot.http_app import build_http_app
from bot.lifecycle import RunStatus, StepStatus
from bot.service import DATABASE_DOWN
from handlers.shell.testing import ConsoleBot
from tests.bot.approval_playbooks import CONFIG as APPROVAL_CONFIG
from tests.support.clock import FastClock
from tests.support.console import BotFactory
from tests.support.stub_server import StubServer
from tests.support.tcp_proxy import TcpProxy, proxy_to

PAUSE_THEN_CALL = """
name: pause-then-call
steps:
  - id: pause
    action: wait
    with: {duration: 6s}
  - id: call
    action: http
    with: {url: "{{ env.API_URL }}/call"}
"""

PARENT = """
name: parent
steps:
  - id: child
    action: playbook
    with: {name: pause-then-call}
  - id: after
    action: http
    with: {url: "{{ env.API_URL }}/after"}
"""

GATED = """
name: gated
steps:
  - id: first
    action: http
    with: {url: "{{ env.API_URL }}/call"}
  - id: risky
    approval: {required: true, approvers: [sre-lead], expires_after: 10m}
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/risky"}
"""

INTERRUPTED_LINE = (
    "⚠️ Run #1 was interrupted: the bot lost its database while this run was executing. "
    "Resume continues after the last step that succeeded; Abort cancels it."
)
OPEN = {StepStatus.RUNNING, StepStatus.WAITING}


class HeldClock(FastClock):
    """A test clock whose sleeps wait until the test lets them go: a ``wait`` step stays in
    the middle of its step for as long as the test needs (here: while the database is
    away). Once released, sleeps take no time, as with FastClock."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = asyncio.Event()  # a sleep is being held
        self.stopped = asyncio.Event()  # a held sleep was cancelled: its step was stopped
        self._go = asyncio.Event()

    def release(self) -> None:
        self._go.set()

    async def sleep(self, seconds: float) -> None:
        self.holding.set()
        try:
            await self._go.wait()
        except asyncio.CancelledError:
            self.stopped.set()
            raise
        await super().sleep(seconds)


@pytest.fixture
def clock() -> HeldClock:
    return HeldClock()


@pytest_asyncio.fixture
async def proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    """A proxy in front of the test's own PostgreSQL schema (skipped without PostgreSQL)."""
    async with proxy_to(postgres_url) as started:
        yield started


@pytest.fixture
def bot_behind_proxy(
    proxy: TcpProxy, postgres_url: str, make_bot: BotFactory
) -> Callable[..., Awaitable[ConsoleBot]]:
    """Bots whose database is reached through ``proxy``. (Requested after the proxy, so the
    bots are closed before the proxy and the schema go.)"""

    async def factory(**kwargs: Any) -> ConsoleBot:
        return await make_bot(database_url=proxy.url_for(postgres_url), **kwargs)

    return factory


def logged(caplog: pytest.LogCaptureFixture, event: str) -> int:
    """How many times the bot logged ``event`` (structlog hands its event dict to logging)."""
    return sum(1 for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == event)


async def until_logged(caplog: pytest.LogCaptureFixture, event: str, times: int = 1) -> None:
    async with asyncio.timeout(20):
        while logged(caplog, event) < times:
            await asyncio.sleep(0.01)


def nothing_went_unreported(caplog: pytest.LogCaptureFixture) -> bool:
    """No run's task crashed, and none died with an exception nobody read."""
    gc.collect()  # a task that died with an exception nobody read reports it when collected
    unread = [r for r in caplog.records if "never retrieved" in r.getMessage()]
    return not unread and logged(caplog, "run_crashed") == 0


async def run_of(bot: ConsoleBot, run_id: int) -> RunRecord:
    run = await bot.deps.store.get_run(run_id)
    assert run is not None
    return run


async def test_a_run_that_loses_its_database_mid_step_is_interrupted_once_it_is_back(
    bot_behind_proxy: Callable[..., Awaitable[ConsoleBot]],
    proxy: TcpProxy,
    clock: HeldClock,
    stub_server: StubServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stub_server.route("GET", "/call", json={})
    bot = await bot_behind_proxy(playbooks={"pause-then-call": PAUSE_THEN_CALL})
    await bot.send("/playbook pause-then-call")
    await bot.press("Run", 1)
    await clock.holding.wait()

    await proxy.cut()
    clock.release()  # the pause ends while the database is away: its end cannot be recorded
    await until_logged(caplog, "run_lost_database")
    await until_logged(caplog, "database_write_retrying", times=2)  # tried, and tried again
    await proxy.restore()
    await bot.wait_until(lambda: INTERRUPTED_LINE in bot.thread(1), limit=30)

    run = await run_of(bot, 1)
    assert run.status is RunStatus.INTERRUPTED
    assert run.error == "the bot lost its database while this run was executing"
    steps = {s.step_id: s for s in await bot.deps.store.steps(1)}
    assert steps["pause"].status is StepStatus.CANCELLED  # not left running
    assert steps["pause"].summary == "the run was interrupted"
    assert "call" not in steps
    assert stub_server.calls("GET", "/call") == []  # the run went no further
    card = bot.card(1)
    assert card.status == "Interrupted before it finished. Resume or Abort?"
    assert [b.action for b in card.buttons] == [ButtonAction.RESUME, ButtonAction.ABORT]
    [said] = [m for m in bot.chat.messages if m.text == INTERRUPTED_LINE]
    assert [b.action for b in said.buttons] == [ButtonAction.RESUME, ButtonAction.ABORT]
    assert nothing_went_unreported(caplog)

    await bot.press("Resume", 1)
    resumed = await bot.finished(1)
    assert resumed.status is RunStatus.SUCCEEDED
    assert len(stub_server.calls("GET", "/call")) == 1


async def test_a_run_waiting_at_a_gate_when_the_database_goes_is_interrupted_and_cancel_closes_it(
    bot_behind_proxy: Callable[..., Awaitable[ConsoleBot]],
    proxy: TcpProxy,
    stub_server: StubServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stub_server.route("GET", "/call", json={})
    bot = await bot_behind_proxy(config=APPROVAL_CONFIG, playbooks={"gated": GATED})
    await bot.send("/playbook gated")
    await bot.press("Run", 1)
    await bot.wait_until(lambda: any("🔐 Approval needed" in t for t in bot.thread(1)))
    await bot.service.progress.settle()  # where the request went is recorded, to edit it later

    await proxy.cut()  # the gate's next look at the decisions fails
    await until_logged(caplog, "run_lost_database")
    await proxy.restore()
    await bot.wait_until(lambda: INTERRUPTED_LINE in bot.thread(1), limit=30)

    [request] = [m for m in bot.chat.messages if m.text.startswith("🔐 Approval needed")]
    await bot.wait_until(lambda: request.edits == 1)  # edited after the line above is queued
    assert request.text.endswith("⏸ Interrupted before this was decided; Resume asks again.")
    assert request.buttons == []
    await bot.send("/playbook cancel 1")
    run = await run_of(bot, 1)
    assert run.status is RunStatus.CANCELLED
    steps = await bot.deps.store.steps(1)
    assert {s.step_id: s.status for s in steps} == {
        "first": StepStatus.SUCCEEDED,
        "risky": StepStatus.CANCELLED,
    }
    assert stub_server.calls("POST", "/risky") == []
    assert nothing_went_unreported(caplog)


async def test_a_sub_playbook_that_loses_the_database_ends_with_its_parent_interrupted(
    bot_behind_proxy: Callable[..., Awaitable[ConsoleBot]],
    proxy: TcpProxy,
    clock: HeldClock,
    stub_server: StubServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stub_server.route("GET", "/call", json={})
    bot = await bot_behind_proxy(playbooks={"pause-then-call": PAUSE_THEN_CALL, "parent": PARENT})
    await bot.send("/playbook parent")
    await bot.press("Run", 1)
    await clock.holding.wait()  # the child run (#2) is in its pause

    await proxy.cut()
    clock.release()
    await until_logged(caplog, "run_lost_database")
    await proxy.restore()
    await bot.wait_until(lambda: INTERRUPTED_LINE in bot.thread(1), limit=30)

    parent, child = await run_of(bot, 1), await run_of(bot, 2)
    assert parent.status is RunStatus.INTERRUPTED
    assert (child.status, child.parent_run_id) == (RunStatus.CANCELLED, 1)
    assert child.error == "the bot lost its database while this run was executing"
    open_steps = [
        (s.run_id, s.step_id)
        for run_id in (1, 2)
        for s in await bot.deps.store.steps(run_id)
        if s.status in OPEN
    ]
    assert open_steps == []
    # The parent's step did not fail for it: Resume runs the sub-playbook again.
    [child_step] = await bot.deps.store.steps(1)
    assert child_step.status is StepStatus.CANCELLED
    assert stub_server.calls("GET", "/call") == []
    assert stub_server.calls("GET", "/after") == []
    assert nothing_went_unreported(caplog)


async def test_a_run_stops_when_its_heartbeats_have_been_lost_long_enough_to_be_taken_over(
    bot_behind_proxy: Callable[..., Awaitable[ConsoleBot]],
    proxy: TcpProxy,
    clock: HeldClock,
    stub_server: StubServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stub_server.route("GET", "/call", json={})
    config = "engine: {heartbeat_every: 50ms, stale_after: 1s}\n"
    bot = await bot_behind_proxy(config=config, playbooks={"pause-then-call": PAUSE_THEN_CALL})
    await bot.send("/playbook pause-then-call")
    await bot.press("Run", 1)
    await clock.holding.wait()

    # The step itself needs no database, but another replica may soon presume this one
    # dead and resume the run: this one stops it first.
    await proxy.cut()
    async with asyncio.timeout(20):
        await clock.stopped.wait()
    await proxy.restore()
    await bot.wait_until(lambda: INTERRUPTED_LINE in bot.thread(1), limit=30)
    clock.release()
    await bot.service.wait_idle()

    run = await run_of(bot, 1)
    assert run.status is RunStatus.INTERRUPTED
    [pause] = await bot.deps.store.steps(1)
    assert pause.status is StepStatus.CANCELLED
    assert stub_server.calls("GET", "/call") == []
    assert nothing_went_unreported(caplog)


async def test_commands_say_the_database_is_away_during_an_outage_and_work_once_it_is_back(
    bot_behind_proxy: Callable[..., Awaitable[ConsoleBot]], proxy: TcpProxy
) -> None:
    bot = await bot_behind_proxy()
    transport = httpx.ASGITransport(app=build_http_app(bot.service))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        assert (await client.get("/readyz")).status_code == 200

        await proxy.cut()
        await bot.send("/playbook history")
        await bot.send("/playbook clear-cache")
        assert bot.private("alice") == [DATABASE_DOWN, DATABASE_DOWN]
        assert [m for m in bot.chat.messages if m.kind == "card"] == []
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["status"] == "unavailable"
        assert (await client.get("/healthz")).status_code == 200

        await proxy.restore()
        assert (await client.get("/readyz")).status_code == 200
        await bot.send("/playbook clear-cache")
        assert [m.card.run_id for m in bot.chat.messages if m.card is not None] == [1]
        await bot.send("/playbook history")
        assert "#1" in bot.private("alice")[-1]


async def test_a_command_answers_when_the_database_host_goes_silent_instead_of_hanging(
    bot_behind_proxy: Callable[..., Awaitable[ConsoleBot]], proxy: TcpProxy
) -> None:
    bot = await bot_behind_proxy()
    await bot.send("/playbook history")
    transport = httpx.ASGITransport(app=build_http_app(bot.service))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        await proxy.blackhole()  # connections are accepted, and never answered
        # Not a speed check: the guard only turns a hang into a failure.
        async with asyncio.timeout(120):
            await bot.send("/playbook history")
        assert bot.private("alice")[-1] == DATABASE_DOWN
        assert (await client.get("/readyz")).status_code == 503

        await proxy.restore()
        await bot.send("/playbook history")
        assert bot.private("alice")[-1] == "No runs yet."


async def test_after_an_outage_heartbeats_land_again_and_a_cancel_elsewhere_still_stops_the_run(
    bot_behind_proxy: Callable[..., Awaitable[ConsoleBot]],
    make_bot: BotFactory,
    postgres_url: str,
    proxy: TcpProxy,
    clock: HeldClock,
    stub_server: StubServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = "engine: {heartbeat_every: 50ms, cancel_check_every: 50ms}\n"
    playbooks = {"pause-then-call": PAUSE_THEN_CALL}
    runner = await bot_behind_proxy(config=config, playbooks=playbooks)
    other = await make_bot(config=config, playbooks=playbooks, database_url=postgres_url)
    await runner.send("/playbook pause-then-call")
    await runner.press("Run", 1)
    await clock.holding.wait()

    await proxy.cut()
    await until_logged(caplog, "liveness_check_failed")
    await until_logged(caplog, "cancel_check_failed")
    await proxy.restore()
    clock.advance(5)  # a heartbeat from now on is stamped with the new time
    async with asyncio.timeout(20):
        while (await run_of(other, 1)).heartbeat_at != clock.now():
            await asyncio.sleep(0.02)

    await other.send("/playbook cancel 1")
    async with asyncio.timeout(20):
        await clock.stopped.wait()  # the step here was stopped
    run = await runner.finished(1)
    assert run.status is RunStatus.CANCELLED
    assert stub_server.calls("GET", "/call") == []
