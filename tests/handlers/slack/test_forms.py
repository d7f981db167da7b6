"""The params and deny-reason forms: opened first, refused privately, answered privately."""

from __future__ import annotations

from pathlib import Path

from bot.lifecycle import RunStatus
from tests.handlers.slack.conftest import RESTART, SlackBot, running_slack_bot
from tests.support.clock import FastClock
from tests.support.fake_slack import FakeSlack

LONG_CHOICE = "eu-west-1-primary-cluster-behind-the-shared-load-balancer-of-the-payments-team"
TOO_LONG_TO_SELECT = "x" * 200

DEPLOY = f"""
name: deploy-region
title: Deploy to a region
allowed: [sre-lead]
params:
  region: {{type: string, required: true, choices: [us-east-1, {LONG_CHOICE}]}}
  build: {{type: string, required: true, choices: ["{TOO_LONG_TO_SELECT}", other]}}
steps:
  - {{id: pause, action: wait, with: {{duration: 1s}}}}
"""


def methods_after_start_up(fake: FakeSlack) -> list[str]:
    return [call.method for call in fake.calls][1:]  # [0] is start-up's auth.test


async def test_the_form_opens_before_any_other_slack_call(slack: SlackBot) -> None:
    await slack.command("restart-service replicas=3")
    assert methods_after_start_up(slack.fake) == ["views.open"]


async def test_a_form_that_cannot_open_says_how_to_pass_the_params(slack: SlackBot) -> None:
    slack.fake.fail_next("views.open", status=200, error="expired_trigger_id")
    await slack.command("restart-service replicas=3")
    assert slack.ephemeral() == [
        "I couldn't open the form to fill in the params (Slack said `expired_trigger_id`). "
        "`restart-service` needs `service` (one of: api, worker). Pass it on the command: "
        "`/playbook restart-service replicas=3 service=…`"
    ]
    assert slack.fake.of("chat.postMessage") == []


async def test_long_choices_fit_the_form_and_refusals_after_it_reach_the_user(
    fake_slack: FakeSlack, tmp_path: Path, target_env: dict[str, str], clock: FastClock
) -> None:
    playbooks = {"restart-service.yaml": RESTART, "deploy-region.yaml": DEPLOY}
    async with running_slack_bot(
        fake_slack, tmp_path, target_env, clock, playbooks=playbooks
    ) as slack:
        await slack.command("deploy-region", user="U0MALLORY", name="mallory")
        [opened] = slack.fake.of("views.open")
        assert not opened.failed  # Slack takes it: option texts within 75 characters
        inputs = {b["block_id"]: b for b in opened.args["view"]["blocks"]}
        options = inputs["param.region"]["element"]["options"]
        assert [o["value"] for o in options] == ["us-east-1", LONG_CHOICE]
        assert len(options[1]["text"]["text"]) == 75
        assert inputs["param.build"]["element"]["type"] == "plain_text_input"

        values = {
            "param.region": {
                "value": {"type": "static_select", "selected_option": {"value": LONG_CHOICE}}
            },
            "param.build": {"value": {"type": "plain_text_input", "value": "other"}},
        }
        await slack.submit(opened.args["view"], values, user="U0MALLORY")
        # Mallory holds no role: told through the command's response_url, which works even
        # where the bot is not in the channel (chat.postEphemeral would not).
        [refusal] = slack.fake.responses
        assert str(refusal.args["text"]).startswith("You can't start `deploy-region`")
        assert refusal.args["path"] == "/response/1"
        assert slack.fake.of("chat.postEphemeral") == []

        await slack.command("deploy-region", user="U0BOB", name="bob")
        await slack.submit(slack.fake.of("views.open")[-1].args["view"], values, user="U0BOB")
        run = await slack.deps.store.get_run(1)
        assert run is not None
        assert run.params == {"region": LONG_CHOICE, "build": "other"}
        assert run.status is RunStatus.PENDING


async def test_deny_asks_why_only_of_those_who_may_decide(slack: SlackBot) -> None:
    await slack.command("refresh-synonyms reindex=true")
    await slack.click("Deny", 1, user="U0MALLORY")
    await slack.click("Deny", 1, user="U0ALICE")  # the requester
    assert slack.fake.of("views.open") == []
    assert slack.ephemeral() == [
        "You may not approve or deny run #1: it needs `sre-lead`.",
        "You requested run #1, so someone else must approve or deny it.",
    ]

    slack.fake.fail_next("views.open", status=200, error="expired_trigger_id")
    await slack.click("Deny", 1, user="U0BOB")
    assert slack.ephemeral()[-1] == (
        "I couldn't open the form to deny run #1 (Slack said `expired_trigger_id`)."
    )
    await slack.click("Deny", 1, user="U0BOB")
    assert slack.fake.of("views.open")[-1].args["view"]["callback_id"] == "chatops.deny"
    run = await slack.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.PENDING
