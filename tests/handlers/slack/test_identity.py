"""User-group membership for roles: cached briefly, one call for concurrent misses, failures
never cached; a lookup Slack cannot answer reaches the user as a private answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Config
from bot.lifecycle import RunStatus
from handlers.slack.identity import IdentityUnavailable, SlackIdentity
from tests.handlers.slack.conftest import SlackBot
from tests.support.fake_slack import FakeSlack

CONFIG = Config.model_validate(
    {"roles": {"sre-lead": {"slack": ["S0LEADS", "U0ALICE"]}, "oncall": {"slack": ["S0ONCALL"]}}}
)
LISTS = "usergroups.users.list"


@pytest_asyncio.fixture
async def client(fake_slack: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    fake_slack.set_usergroup("S0LEADS", ["U0BOB", "U0CAROL"])
    fake_slack.set_usergroup("S0ONCALL", ["U0CAROL"])
    yield AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url, retry_handlers=[])


def groups_asked(fake: FakeSlack) -> list[str]:
    return [str(call.args["usergroup"]) for call in fake.of(LISTS)]


async def test_membership_is_cached_per_group(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    identity = SlackIdentity(client, CONFIG)
    carol = await identity.actor("U0CAROL", "carol")
    bob = await identity.actor("U0BOB")
    assert carol.groups == ("S0LEADS", "S0ONCALL")
    assert (bob.groups, bob.name) == (("S0LEADS",), "U0BOB")
    assert sorted(groups_asked(fake_slack)) == ["S0LEADS", "S0ONCALL"]  # once each

    expired = SlackIdentity(client, CONFIG, ttl=0)
    await expired.actor("U0BOB")
    await expired.actor("U0BOB")
    assert len(fake_slack.of(LISTS)) == 2 + 4


async def test_concurrent_misses_for_a_group_share_one_call(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    identity = SlackIdentity(client, CONFIG)
    fake_slack.hold(LISTS)
    lookups = [asyncio.ensure_future(identity.actor(u)) for u in ("U0BOB", "U0CAROL", "U0EVE")]
    async with asyncio.timeout(10):
        while len(fake_slack.of(LISTS)) < 2:  # one per group has arrived, and is held
            await asyncio.sleep(0.01)
    fake_slack.release()
    bob, carol, eve = await asyncio.gather(*lookups)
    assert (bob.groups, carol.groups, eve.groups) == (
        ("S0LEADS",),
        ("S0LEADS", "S0ONCALL"),
        (),
    )
    assert sorted(groups_asked(fake_slack)) == ["S0LEADS", "S0ONCALL"]


async def test_a_group_slack_refuses_grants_nothing_and_is_asked_again(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    identity = SlackIdentity(client, CONFIG)
    fake_slack.fail_next(LISTS, status=200, error="missing_scope")
    first = await identity.actor("U0CAROL")
    second = await identity.actor("U0CAROL")
    assert len(first.groups) == 1  # one of the two groups could not be read
    assert second.groups == ("S0LEADS", "S0ONCALL")  # not cached as "no members"
    assert len(fake_slack.of(LISTS)) == 3


async def test_slack_not_answering_is_an_error_and_is_not_cached(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    identity = SlackIdentity(client, CONFIG)
    fake_slack.fail_next(LISTS, status=500, error="internal_error", times=2)
    with pytest.raises(IdentityUnavailable, match="couldn't check your Slack user groups"):
        await identity.actor("U0CAROL")
    assert (await identity.actor("U0CAROL")).groups == ("S0LEADS", "S0ONCALL")


async def test_an_unanswered_group_lookup_gets_a_private_answer(slack: SlackBot) -> None:
    slack.fake.fail_next(LISTS, status=503, error="service_unavailable")
    await slack.command("clear-cache index_name=kb")
    assert slack.ephemeral() == [
        "I couldn't check your Slack user groups just now (Slack didn't answer), so nothing "
        "was done. Please try again in a minute."
    ]
    assert slack.fake.of("chat.postMessage") == []
    assert await slack.deps.store.get_run(1) is None

    await slack.command("clear-cache index_name=kb")  # Slack answers again
    run = await slack.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.PENDING


async def test_reading_commands_answer_even_when_slack_cannot_say_the_groups(
    slack: SlackBot,
) -> None:
    slack.fake.fail_next(LISTS, status=503, error="service_unavailable", times=10)

    for text in ("list", "help clear-cache", "history", "status 1"):
        await slack.command(text)
    assert slack.fake.count(LISTS) == 0  # none of them needed to ask Slack
    await slack.command("clear-cache index_name=kb")  # who may start depends on roles

    listing, help_text, history, status, start = slack.ephemeral()
    assert "`clear-cache`" in listing
    assert "`index_name`" in help_text
    assert history == "No runs yet."
    assert "#1" in status  # no such run: said as such, not "try again"
    assert start.startswith("I couldn't check your Slack user groups")
    assert slack.fake.count(LISTS) > 0
