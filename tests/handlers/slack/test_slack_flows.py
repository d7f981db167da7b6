"""Slack end to end: signed requests in, calls to a fake Slack Web API out."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.lifecycle import RunStatus
from tests.handlers.slack.conftest import SlackBot, sign
from tests.support.stub_server import StubServer

CACHE_CLEAR = "/kb/_cache/clear"


def route_refresh_synonyms(stub_server: StubServer) -> None:
    """The Elasticsearch calls of `refresh-synonyms reindex=true`."""
    for path in ("_close", "_reload_search_analyzers", "_open", "_update_by_query"):
        stub_server.route("POST", f"/knowledge_base/{path}", json={"acknowledged": True})


def approval_request(slack: SlackBot) -> dict[str, Any]:
    """The one approval request in #incidents, as it stands now (after edits)."""
    [asked] = [m for m in slack.fake.messages("C0INCIDENTS") if "Approval needed" in m["text"]]
    return asked


async def test_command_posts_a_card_and_run_executes_with_progress_in_thread(
    slack: SlackBot, stub_server: StubServer
) -> None:
    stub_server.route("POST", CACHE_CLEAR, json={"_shards": {"failed": 0}})
    response = await slack.command("clear-cache index_name=kb")
    assert response.status_code == 200
    assert response.text == ""  # acknowledged silently; the card is the answer

    card = slack.card(1)
    buttons = [e["text"]["text"] for b in card["blocks"] for e in b.get("elements", [])]
    assert buttons == ["Run", "Cancel"]
    assert "Dry run ready: waiting for Run" in json.dumps(card["blocks"])
    assert stub_server.requests == []

    await slack.click("Run", 1, user="U0ALICE")
    run = await slack.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.SUCCEEDED
    assert len(stub_server.calls("POST", CACHE_CLEAR)) == 1
    assert "Succeeded" in json.dumps(slack.card(1)["blocks"])  # edited in place
    assert slack.fake.of("chat.update")
    thread = slack.thread(1)
    assert thread[0] == "▶️ Started by alice."
    assert any("`clear` succeeded" in t for t in thread)


async def test_two_approvers_approve_in_the_thread(
    slack: SlackBot, stub_server: StubServer
) -> None:
    route_refresh_synonyms(stub_server)
    await slack.command("refresh-synonyms reindex=true")
    request = slack.thread(1)[0]
    assert "🔐 Approval needed for run #1" in request
    assert "<!subteam^S0LEADS>" in request  # the approvers are notified

    await slack.click("Approve", 1, user="U0ALICE")  # the requester
    assert slack.ephemeral()[-1] == (
        "You requested run #1, so someone else must approve or deny it."
    )
    await slack.click("Approve", 1, user="U0BOB")
    run = await slack.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.SUCCEEDED
    assert len(stub_server.calls("POST", "/knowledge_base/_update_by_query")) == 1
    assert "approved by bob" in json.dumps(slack.card(1)["blocks"])
    # The request, edited with chat.update, says who decided and offers no buttons.
    asked = approval_request(slack)
    assert asked["text"].startswith("🔐 Approval needed for run #1")
    assert asked["text"].endswith("\n✅ Approved by bob.")
    assert [b["type"] for b in asked["blocks"]] == ["section"]


async def test_deny_asks_why_and_cancel(slack: SlackBot, stub_server: StubServer) -> None:
    await slack.command("refresh-synonyms reindex=true")
    stale = slack.find_button("Deny", 1)  # as the request looked before it was decided
    await slack.click("Deny", 1, user="U0CAROL")
    [opened] = slack.fake.of("views.open")
    form = opened.args["view"]
    assert form["callback_id"] == "chatops.deny"
    run = await slack.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.PENDING  # nothing is decided until the form is sent

    reason = {"reason": {"value": {"type": "plain_text_input", "value": "reindex at night"}}}
    await slack.submit(form, reason, user="U0CAROL")
    run = await slack.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.DENIED
    card = json.dumps(slack.card(1)["blocks"])
    assert "Denied" in card
    assert "denied by carol: reindex at night" in card
    assert "🚫 Denied by carol: reindex at night" in slack.thread(1)

    with pytest.raises(AssertionError, match="no Deny button"):
        slack.find_button("Deny", 1)  # the request lost its buttons when it was decided
    await slack.click("Deny", 1, user="U0BOB", button=stale)  # a stale copy: the form opens...
    await slack.submit(slack.fake.of("views.open")[-1].args["view"], {}, user="U0BOB")
    assert slack.ephemeral()[-1] == "Can't deny run #1: it was denied."  # ...to no effect

    await slack.command("clear-cache")
    await slack.click("Cancel", 2, user="U0ALICE")
    run = await slack.deps.store.get_run(2)
    assert run is not None
    assert run.status is RunStatus.CANCELLED
    assert stub_server.requests == []


async def test_a_double_click_runs_once(slack: SlackBot, stub_server: StubServer) -> None:
    stub_server.route("POST", CACHE_CLEAR, json={})
    await slack.command("clear-cache index_name=kb")
    run_button = slack.find_button("Run", 1)
    await slack.click("Run", 1, user="U0ALICE", button=run_button)
    await slack.click("Run", 1, user="U0ALICE", button=run_button)
    assert len(stub_server.calls("POST", CACHE_CLEAR)) == 1
    assert slack.ephemeral()[-1].startswith("Can't run run #1: it ")


async def test_someone_else_pressing_run_is_told_privately(
    slack: SlackBot, stub_server: StubServer
) -> None:
    await slack.command("clear-cache")
    await slack.click("Run", 1, user="U0MALLORY")
    assert slack.ephemeral() == ["Only alice, who requested run #1, can press Run."]
    assert stub_server.requests == []


async def test_bad_signature_and_stale_timestamp_get_401(slack: SlackBot) -> None:
    body = urlencode({"command": "/playbook", "text": "list", "user_id": "U0ALICE"}).encode()
    forged = await slack.client.post(
        "/slack/events",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            **sign(body, secret="not-the-secret"),
        },
    )
    stale = await slack.client.post(
        "/slack/events",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", **sign(body, 1_000_000)},
    )
    assert forged.status_code == 401
    assert stale.status_code == 401
    assert [call.method for call in slack.fake.calls] == ["auth.test"]  # at start-up only


async def test_unknown_playbook_and_bad_grammar_answer_ephemerally(slack: SlackBot) -> None:
    await slack.command("clear-cach")
    await slack.command("status twelve")
    assert slack.ephemeral() == [
        "Unknown playbook `clear-cach`. Did you mean `clear-cache`? Try `/playbook list`.",
        "`twelve` is not a run number; runs look like `#12`.",
    ]
    assert all(call.args.get("response_type") == "ephemeral" for call in slack.fake.responses)
    assert slack.fake.of("chat.postMessage") == []


async def test_list_fits_block_kit_limits(slack: SlackBot) -> None:
    await slack.command("list")
    answer = slack.fake.responses[-1].args
    assert "`latency-spike`" in answer["text"]
    assert len(answer["blocks"]) <= 50


async def test_a_retried_event_is_handled_once(slack: SlackBot) -> None:
    event = {
        "type": "event_callback",
        "team_id": "T0001",
        "api_app_id": "A0APP",
        "event_id": "Ev0RETRY",
        "event_time": 1732270000,
        "event": {
            "type": "app_mention",
            "user": "U0ALICE",
            "text": "<@U0BOT> playbook list",
            "channel": "C0INCIDENTS",
            "ts": "1732270000.000200",
        },
    }
    body = json.dumps(event).encode()
    first = await slack.post(body, "application/json")
    await slack.settle()
    retry = await slack.post(
        body, "application/json", **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"}
    )
    await slack.settle()
    assert first.status_code == retry.status_code == 200
    ephemerals = slack.fake.of("chat.postEphemeral")
    assert len(ephemerals) == 1
    assert "`clear-cache`" in ephemerals[0].args["text"]


async def test_rate_limited_then_ok_loses_no_message(
    slack: SlackBot, stub_server: StubServer
) -> None:
    stub_server.route("POST", CACHE_CLEAR, json={})
    slack.fake.fail_next("chat.postMessage", status=429, retry_after=1)
    await slack.command("clear-cache index_name=kb")
    posts = slack.fake.of("chat.postMessage")
    assert [p.failed for p in posts] == [True, False]  # retried after Retry-After
    await slack.click("Run", 1, user="U0ALICE")
    run = await slack.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.SUCCEEDED


async def test_slack_down_during_progress_does_not_fail_the_run(
    slack: SlackBot, stub_server: StubServer
) -> None:
    stub_server.route("POST", CACHE_CLEAR, json={})
    await slack.command("clear-cache index_name=kb")
    # Slack is down for the whole run: every post and every card edit is refused.
    slack.fake.fail_next("chat.postMessage", status=500, error="internal_error", times=1000)
    slack.fake.fail_next("chat.update", status=500, error="internal_error", times=1000)
    await slack.click("Run", 1, user="U0ALICE")
    await slack.service.progress.settle()
    run = await slack.deps.store.get_run(1)
    assert run is not None
    assert run.status is RunStatus.SUCCEEDED  # the run's result stays correct and stored
    assert len(stub_server.calls("POST", CACHE_CLEAR)) == 1
    assert "Dry run ready" in json.dumps(slack.card(1)["blocks"])  # every edit was refused

    slack.fake.recover("chat.update")
    slack.fake.recover("chat.postMessage")
    await slack.service.progress.resync_cards()  # Slack is back: the periodic resync
    assert "Succeeded" in json.dumps(slack.card(1)["blocks"])


async def test_missing_required_params_open_a_modal_that_starts_the_run(
    slack: SlackBot, stub_server: StubServer
) -> None:
    await slack.command("clear-cache index_name=kb --dry-run")  # nothing missing: no modal
    assert slack.fake.of("views.open") == []

    await slack.command("restart-service replicas=3")
    [opened] = slack.fake.of("views.open")
    assert opened.args["trigger_id"] == "1337.2.abcdef"
    view = opened.args["view"]
    inputs = {b["block_id"]: b for b in view["blocks"]}
    assert inputs["param.service"]["element"]["type"] == "static_select"
    assert inputs["param.replicas"]["element"]["initial_value"] == "3"  # what was typed
    assert slack.fake.of("chat.postMessage") == []  # no card until the form is sent

    bad = await slack.submit(
        view,
        {"param.replicas": {"value": {"type": "plain_text_input", "value": "99"}}},
        user="U0ALICE",
    )
    assert bad.json() == {
        "response_action": "errors",
        "errors": {"param.service": "Required.", "param.replicas": "99 is above the maximum 10"},
    }

    good = await slack.submit(
        view,
        {
            "param.service": {
                "value": {"type": "static_select", "selected_option": {"value": "api"}}
            },
            "param.replicas": {"value": {"type": "plain_text_input", "value": "3"}},
        },
        user="U0ALICE",
    )
    assert good.status_code == 200
    run = await slack.deps.store.get_run(2)  # 1: the dry run
    assert run is not None
    assert run.params == {"service": "api", "replicas": 3}
    assert run.place.channel == "C0INCIDENTS"
    assert "Restart a service · run #2" in json.dumps(slack.card(2)["blocks"], ensure_ascii=False)


async def test_a_request_decided_while_slack_was_down_loses_its_buttons_when_it_is_back(
    slack: SlackBot, stub_server: StubServer
) -> None:
    route_refresh_synonyms(stub_server)
    await slack.command("refresh-synonyms reindex=true")
    slack.fake.fail_next("chat.update", status=500, error="internal_error", times=1000)
    await slack.click("Approve", 1, user="U0BOB")
    await slack.service.progress.settle()
    assert slack.find_button("Approve", 1)  # the edit was refused: still there

    slack.fake.recover("chat.update")
    await slack.service.progress.resync_cards()  # Slack is back: the periodic resync
    await slack.service.progress.settle()
    asked = approval_request(slack)
    assert asked["text"].endswith("\n✅ Approved by bob.")
    assert [b["type"] for b in asked["blocks"]] == ["section"]
