"""Slack: a run number past the largest id, or a command past the length limit, gets a plain
private answer on every path (slash command, button, mention), never Python's error text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.handlers.slack.conftest import SlackBot

TOO_LONG = "That command is longer than 4,000 characters, the most a command may be."
PAST_THE_LAST = "There is no run #{}: run numbers go up to 2147483647."


def button(value: str, action: str = "run") -> tuple[dict[str, Any], dict[str, Any]]:
    """A button as a click would carry it: a forged one, with ``value`` as its run."""
    element = {
        "action_id": f"chatops.{action}",
        "text": {"type": "plain_text", "text": action.title()},
        "value": value,
    }
    return {"ts": "1732270000.000100"}, element


@pytest.mark.parametrize(
    ("run", "shown"),
    [("2147483648", "2147483648"), ("#9223372036854775808", "9223372036854775808")],
)
async def test_a_status_past_the_largest_id_names_no_run(
    slack: SlackBot, run: str, shown: str
) -> None:
    response = await slack.command(f"status {run}")

    assert response.status_code == 200
    assert slack.ephemeral() == [PAST_THE_LAST.format(shown)]


async def test_a_command_past_the_limit_is_refused_with_the_limit(slack: SlackBot) -> None:
    await slack.command(f"status {'9' * 4_301}")
    await slack.command('clear-cache index_name="' + "x" * 5_000)

    assert slack.ephemeral() == [TOO_LONG, TOO_LONG]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2147483648", "2147483648"),
        ("9" * 5_000, "999999999999999999999999…"),
        ("9" * 5_000 + ":restart", "999999999999999999999999…"),
    ],
)
async def test_a_button_past_the_largest_id_names_no_run(
    slack: SlackBot, value: str, shown: str
) -> None:
    response = await slack.click("Run", 0, user="U0ALICE", button=button(value))

    assert response.status_code == 200
    assert slack.ephemeral() == [PAST_THE_LAST.format(shown)]


async def test_a_deny_button_past_the_largest_id_names_no_run(slack: SlackBot) -> None:
    await slack.click("Deny", 0, user="U0BOB", button=button("9" * 5_000, "deny"))

    assert slack.ephemeral() == [PAST_THE_LAST.format("999999999999999999999999…")]
    assert slack.fake.of("views.open") == []


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("<@U0BOT> playbook status 2147483648", PAST_THE_LAST.format("2147483648")),
        (f"<@U0BOT> playbook status {'9' * 5_000}", TOO_LONG),
        (f"<@U0BOT> {'x' * 5_000}", TOO_LONG),
    ],
)
async def test_a_mention_past_the_limits_is_answered_privately(
    slack: SlackBot, text: str, answer: str
) -> None:
    event = {
        "type": "event_callback",
        "team_id": "T0001",
        "api_app_id": "A0APP",
        "event_id": "Ev0LONG",
        "event_time": 1732270000,
        "event": {
            "type": "app_mention",
            "user": "U0ALICE",
            "text": text,
            "channel": "C0INCIDENTS",
            "ts": "1732270000.000200",
        },
    }

    response = await slack.post(json.dumps(event).encode(), "application/json")
    await slack.settle()

    assert response.status_code == 200
    assert [call.args["text"] for call in slack.fake.of("chat.postEphemeral")] == [answer]
