"""Acks come before any Slack, database or target I/O; concurrent clicks run once.

Ordering, not wall time: Slack is held (the fake keeps calls unanswered) or the database is
locked while a request is acknowledged, and the test looks at what had happened by then.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.lifecycle import RunStatus
from handlers.slack.app import api_base_url
from tests.handlers.slack.conftest import SlackBot, running_slack_bot
from tests.support.clock import FastClock
from tests.support.fake_slack import FakeSlack
from tests.support.stub_server import StubServer

CACHE_CLEAR = "/kb/_cache/clear"


@contextmanager
def database_locked(path: Path) -> Iterator[sqlite3.Connection]:
    """Another writer holds the database: every write of the bot waits until we let go."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        other.execute("COMMIT")
        other.close()


async def test_the_token_is_checked_at_start_up_so_no_ack_waits_on_slack(
    slack: SlackBot,
) -> None:
    assert [call.method for call in slack.fake.calls] == ["auth.test"]
    # From now on Slack is slow, and auth.test would fail: neither may touch an ack.
    slack.fake.hold("usergroups.users.list", "chat.postMessage")
    slack.fake.fail_next("auth.test", status=500, error="internal_error", times=100)
    async with asyncio.timeout(10):
        response = await slack.post(*slack.command_request("clear-cache index_name=kb"))
    assert (response.status_code, response.text) == (200, "")
    assert slack.fake.of("chat.postMessage") == []  # acknowledged before the card was sent
    assert len(slack.fake.of("auth.test")) == 1

    slack.fake.release()
    await slack.settle()
    assert "Clear Elasticsearch cache · run #1" in str(slack.card(1)["blocks"])


async def test_commands_and_clicks_are_acked_before_database_and_target_io(
    slack: SlackBot, stub_server: StubServer, tmp_path: Path
) -> None:
    stub_server.route("POST", CACHE_CLEAR, json={})
    await slack.command("clear-cache index_name=kb")
    with database_locked(tmp_path / "chatops.db") as other:
        async with asyncio.timeout(10):
            command = await slack.post(*slack.command_request("clear-cache index_name=kb"))
            click = await slack.post(*slack.click_request("Run", 1, user="U0ALICE"))
        assert command.status_code == click.status_code == 200
        assert other.execute("SELECT id, status FROM runs").fetchall() == [(1, "pending")]
        assert len(slack.fake.of("chat.postMessage")) == 1  # only run #1's card so far
        assert stub_server.requests == []
    await slack.settle()
    run = await slack.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.SUCCEEDED
    assert len(stub_server.calls("POST", CACHE_CLEAR)) == 1
    assert "run #2" in str(slack.card(2)["blocks"])


async def test_a_double_click_sent_at_once_runs_once(
    slack: SlackBot, stub_server: StubServer
) -> None:
    stub_server.route("POST", CACHE_CLEAR, json={})
    await slack.command("clear-cache index_name=kb")
    button = slack.find_button("Run", 1)
    clicks = [slack.click_request("Run", 1, user="U0ALICE", button=button) for _ in range(2)]
    first, second = await asyncio.gather(*(slack.post(*click) for click in clicks))
    assert first.status_code == second.status_code == 200
    await slack.settle()
    run = await slack.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.SUCCEEDED
    assert len(stub_server.calls("POST", CACHE_CLEAR)) == 1
    [refused] = slack.ephemeral()
    assert refused.startswith("Can't run run #1: it ")
    assert slack.thread(1).count("▶️ Started by alice.") == 1


async def test_an_api_url_without_a_trailing_slash_keeps_its_path(
    fake_slack: FakeSlack, tmp_path: Path, target_env: dict[str, str], clock: FastClock
) -> None:
    assert api_base_url("https://slack.example/api") == "https://slack.example/api/"
    assert api_base_url("https://slack.example/api/") == "https://slack.example/api/"
    assert api_base_url(None) == "https://slack.com/api/"
    api_url = fake_slack.api_url.rstrip("/")
    async with running_slack_bot(fake_slack, tmp_path, target_env, clock, api_url=api_url) as slack:
        await slack.command("clear-cache index_name=kb")
        assert "run #1" in str(slack.card(1)["blocks"])


async def test_a_burst_of_commands_from_two_people_gets_every_card(slack: SlackBot) -> None:
    people = [("U0ALICE", "alice"), ("U0BOB", "bob")] * 8
    requests = [
        slack.command_request("clear-cache index_name=kb", user=user, name=name)
        for user, name in people
    ]
    responses = await asyncio.gather(*(slack.post(*request) for request in requests))
    assert [r.status_code for r in responses] == [200] * 16
    await slack.settle()
    cards = [str(slack.card(run)["blocks"]) for run in range(1, 17)]
    assert sum("*Requested by*\\nalice" in card for card in cards) == 8
    assert sum("*Requested by*\\nbob" in card for card in cards) == 8
    assert slack.ephemeral() == []


async def test_cancel_clicked_right_after_run_is_handled_after_it(
    slack: SlackBot, stub_server: StubServer
) -> None:
    stub_server.route("POST", CACHE_CLEAR, json={})
    await slack.command("clear-cache index_name=kb")
    run_click = slack.click_request("Run", 1, user="U0ALICE")
    cancel_click = slack.click_request("Cancel", 1, user="U0ALICE")
    responses = await asyncio.gather(slack.post(*run_click), slack.post(*cancel_click))
    assert [r.status_code for r in responses] == [200, 200]
    await slack.settle()
    assert slack.thread(1)[0] == "▶️ Started by alice."  # Run first, as clicked
    assert not any(text.startswith("Can't run run #1") for text in slack.ephemeral())


async def test_closing_finishes_the_work_already_acknowledged(
    fake_slack: FakeSlack, tmp_path: Path, target_env: dict[str, str], clock: FastClock
) -> None:
    async with running_slack_bot(fake_slack, tmp_path, target_env, clock) as slack:
        for _ in range(5):
            request = slack.command_request("clear-cache index_name=kb")
            assert (await slack.post(*request)).status_code == 200
        # No settle: the bot is stopped right after the acks, with the work still queued.
    cards = [m for m in fake_slack.messages("C0INCIDENTS") if m.get("thread_ts") is None]
    assert len(cards) == 5
