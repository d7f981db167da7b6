"""Slack's escaping both ways: what people type arrives unescaped; what the bot shows of it
is escaped, so it cannot notify a channel, while the bot's own mentions still notify."""

from __future__ import annotations

import json
from pathlib import Path

from tests.handlers.slack.conftest import RESTART, running_slack_bot
from tests.support.clock import FastClock
from tests.support.fake_slack import FakeSlack

FETCH = """
name: fetch-url
title: Fetch a URL
params:
  url: {type: string, required: true}
steps:
  - {id: fetch, action: http, with: {method: GET, url: "{{ params.url }}"}}
"""
URL = "https://x/?a=1&b=2"


def mention_event(text: str, event_id: str) -> bytes:
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": "T0001",
            "api_app_id": "A0APP",
            "event_id": event_id,
            "event_time": 1732270000,
            "event": {
                "type": "app_mention",
                "user": "U0ALICE",
                "text": text,
                "channel": "C0INCIDENTS",
                "ts": "1732270000.000200",
            },
        }
    ).encode()


async def test_typed_ampersands_and_brackets_arrive_as_typed(
    fake_slack: FakeSlack, tmp_path: Path, target_env: dict[str, str], clock: FastClock
) -> None:
    playbooks = {"restart-service.yaml": RESTART, "fetch-url.yaml": FETCH}
    async with running_slack_bot(
        fake_slack, tmp_path, target_env, clock, playbooks=playbooks
    ) as slack:
        await slack.command(f'fetch-url url="{URL}"')  # Slack sends url="…a=1&amp;b=2"
        run = await slack.deps.store.get_run(1)
        assert run is not None
        assert run.params == {"url": URL}
        fields = json.dumps(slack.card(1)["blocks"])
        assert "url=https://x/?a=1&amp;b=2" in fields  # shown escaped, so Slack shows "&"

        escaped = URL.replace("&", "&amp;")
        await slack.post(
            mention_event(f'<@U0BOT> playbook fetch-url url="{escaped}&lt;3"', "Ev0AMP"),
            "application/json",
        )
        await slack.settle()
        run = await slack.deps.store.get_run(2)
        assert run is not None
        assert run.params == {"url": URL + "<3"}


async def test_a_reason_or_param_cannot_notify_the_channel(
    fake_slack: FakeSlack, tmp_path: Path, target_env: dict[str, str], clock: FastClock
) -> None:
    async with running_slack_bot(fake_slack, tmp_path, target_env, clock) as slack:
        await slack.command("refresh-synonyms reindex=true index_name=<!here>")
        await slack.click("Deny", 1, user="U0CAROL")
        reason = {
            "reason": {"value": {"type": "plain_text_input", "value": "<!channel> look <@U0BOB> &"}}
        }
        await slack.submit(slack.fake.of("views.open")[-1].args["view"], reason, user="U0CAROL")

        sent = json.dumps(
            [call.args for call in slack.fake.calls if call.method.startswith("chat.")]
        )
        for broadcast in ("<!channel>", "<!here>", "<@U0BOB>"):
            assert broadcast not in sent
        card = json.dumps(slack.card(1)["blocks"], ensure_ascii=False)
        assert "index_name=&lt;!here&gt;" in card
        assert "denied by carol: &lt;!channel&gt; look &lt;@U0BOB&gt; &amp;" in card
        thread = slack.thread(1)
        assert "<!subteam^S0LEADS>" in thread[0]  # the bot's own mention still notifies
        assert "🚫 Denied by carol: &lt;!channel&gt; look &lt;@U0BOB&gt; &amp;" in thread
