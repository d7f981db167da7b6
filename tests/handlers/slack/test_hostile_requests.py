"""Requests to ``POST /slack/events`` from anyone who can reach the port.

Unsigned, forged, oversized or malformed requests are refused before anything reads them
(401 unsigned, 413 too large, 400 signed but malformed), never with a 500, and no body is
ever written to the log. Signed payloads whose fields the work cannot read tell their
author privately; replays and forms the bot never opened change nothing.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest

from handlers.slack.admission import MAX_BODY_BYTES
from tests.handlers.slack.conftest import FIXTURES, SIGNING_SECRET, SlackBot, sign

MARKER = "SECRETBODYMARKER"
FORM = "application/x-www-form-urlencoded"


def form(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def click_payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / "slack-block-actions.json").read_text())
    payload["actions"][0] |= {"action_id": "chatops.run", "value": "1"}
    payload["response_url"] = "http://127.0.0.1:9/unused"
    payload.update(changes)
    return payload


async def unsigned(
    slack: SlackBot, body: bytes, content_type: str = FORM, **headers: str | bytes
) -> int:
    response = await slack.client.post(
        "/slack/events", content=body, headers={"Content-Type": content_type, **headers}
    )
    return response.status_code


UNSIGNED_BODIES: list[tuple[bytes, str]] = [
    (b"a=" + b"x" * 64_000, FORM),
    (bytes(range(256)) * 4, "application/octet-stream"),
    (bytes(range(256)) * 4, FORM),
    (b"payload={not json", FORM),
    (b"payload=[1,2,3]", FORM),
    (b"payload=null", FORM),
    (b"[1,2]", "application/json"),
    (b"{nope", "application/json"),
    (b"text=caf\xe9&command=/playbook", FORM),
    (b"", FORM),
    (f"payload={MARKER}".encode(), FORM),
    (json.dumps({"type": "block_actions", "actions": "x"}).encode(), "application/json"),
]


@pytest.mark.parametrize(("body", "content_type"), UNSIGNED_BODIES)
async def test_unsigned_requests_are_refused_401_whatever_their_body(
    slack: SlackBot, body: bytes, content_type: str
) -> None:
    assert await unsigned(slack, body, content_type) == 401
    assert slack.fake.calls[1:] == []  # nothing after start-up's auth.test


async def test_a_hundred_forged_stale_future_or_altered_requests_are_all_refused(
    slack: SlackBot,
) -> None:
    body, content_type = slack.command_request("clear-cache index_name=kb")
    now = int(time.time())
    forged: list[dict[str, str]] = []
    for i in range(20):
        forged.append(sign(body, secret=f"not-the-secret-{i}"))  # someone else's secret
        forged.append(sign(body, timestamp=now - 301 - i * 60))  # stale
        forged.append(sign(body, timestamp=now + 301 + i * 60))  # from the future
        headers = sign(body)
        headers["X-Slack-Signature"] = headers["X-Slack-Signature"][:-1] + "0123456789"[i % 10]
        forged.append(headers if headers != sign(body) else sign(body, secret="x"))
        forged.append({"X-Slack-Request-Timestamp": str(now)})  # no signature at all
    statuses = []
    for headers in forged:
        response = await slack.client.post(
            "/slack/events", content=body, headers={"Content-Type": content_type, **headers}
        )
        statuses.append(response.status_code)
    altered = body.replace(b"clear-cache", b"clear-cachf")
    response = await slack.client.post(
        "/slack/events", content=altered, headers={"Content-Type": content_type, **sign(body)}
    )
    assert statuses == [401] * 100
    assert response.status_code == 401
    await slack.settle()
    assert await slack.deps.store.list_runs(limit=5) == []
    assert slack.fake.calls[1:] == []


MALFORMED_TIMESTAMPS = ["soon", "1e9", "-1", "\uff11\uff12", "9" * 5000, "", " 17000", "17\x00"]


@pytest.mark.parametrize("timestamp", MALFORMED_TIMESTAMPS)
async def test_a_malformed_timestamp_is_refused_401_not_500(
    slack: SlackBot, timestamp: str
) -> None:
    body, content_type = slack.command_request("list")
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + timestamp.encode() + b":" + body, "sha256")
    headers = {
        "X-Slack-Request-Timestamp": timestamp.encode(),
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }
    assert await unsigned(slack, body, content_type, **headers) == 401


async def test_a_signature_that_is_not_ascii_is_refused_401_not_500(slack: SlackBot) -> None:
    body, content_type = slack.command_request("list")
    headers = sign(body)
    signature = ("v0=é" + headers.pop("X-Slack-Signature")[4:]).encode()
    assert (
        await unsigned(slack, body, content_type, **headers, **{"X-Slack-Signature": signature})
        == 401
    )


async def test_a_body_over_the_limit_is_refused_413_from_its_length_alone(
    slack: SlackBot, capsys: pytest.CaptureFixture[str]
) -> None:
    body = b"a=" + MARKER.encode() * (MAX_BODY_BYTES // len(MARKER) + 1)
    assert await unsigned(slack, body) == 413
    signed = await slack.post(body, FORM)
    assert signed.status_code == 413
    assert MARKER not in capsys.readouterr().err


async def test_a_streamed_body_is_refused_413_once_it_passes_the_limit(slack: SlackBot) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(64):  # 4 MiB if it were all read
            sent += 1
            yield b"x" * 65_536

    response = await slack.client.post(
        "/slack/events", content=chunks(), headers={"Content-Type": FORM}
    )
    assert response.status_code == 413
    assert sent <= MAX_BODY_BYTES // 65_536 + 2  # stopped reading near the limit


async def test_no_refused_body_is_ever_logged(
    slack: SlackBot, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    for body, content_type in [
        (f"a={MARKER}".encode(), FORM),
        (form({"type": "block_actions", "actions": MARKER}), FORM),
        (f"payload={{{MARKER}".encode(), FORM),
    ]:
        await unsigned(slack, body, content_type)
        await slack.post(body, content_type)
    await slack.settle()
    logged = capsys.readouterr().err
    assert "slack_request_refused" in logged  # each refusal is logged, with its reason
    assert MARKER not in logged


SIGNED_MALFORMED: list[tuple[str, bytes, str]] = [
    ("actions is a string", form(click_payload(actions="chatops.run")), FORM),
    ("actions is empty", form(click_payload(actions=[])), FORM),
    ("an action without action_id", form(click_payload(actions=[{"value": "1"}])), FORM),
    ("an action that is a list", form(click_payload(actions=[[1]])), FORM),
    ("user is a number", form(click_payload(user=7)), FORM),
    ("channel is a list", form(click_payload(channel=["C1"])), FORM),
    ("a view without callback_id", form({"type": "view_submission", "view": {}}), FORM),
    ("a view that is a string", form({"type": "view_submission", "view": "v"}), FORM),
    ("an event that is a list", json.dumps({"type": "event_callback", "event": []}).encode(), FORM),
    ("no type at all", form({"actions": []}), FORM),
    ("payload is not JSON", b"payload={not json", FORM),
    ("payload is a list", b"payload=[1,2,3]", FORM),
    ("payload is null", b"payload=null", FORM),
    ("JSON body is a list", b"[1,2]", "application/json"),
    ("JSON body is broken", b"{nope", "application/json"),
    ("form is not UTF-8", b"command=%2Fplaybook&text=caf\xe9", FORM),
    ("empty body", b"", FORM),
]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(body, content_type) for _, body, content_type in SIGNED_MALFORMED],
    ids=[name for name, _, _ in SIGNED_MALFORMED],
)
async def test_signed_but_malformed_payloads_are_refused_400_not_500(
    slack: SlackBot, body: bytes, content_type: str
) -> None:
    response = await slack.post(body, content_type)
    assert response.status_code == 400
    await slack.settle()
    assert await slack.deps.store.list_runs(limit=5) == []


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        (None, "it carries no metadata"),
        ("not json", "its metadata is not JSON"),
        ("{}", "its metadata has no text `playbook`"),
        ("[1, 2]", "its metadata is a JSON list, not an object"),
        (json.dumps({"playbook": "no-such-thing", "channel": "C1"}), "it names a playbook"),
    ],
)
async def test_a_params_form_the_bot_cannot_read_says_so_in_the_form_and_starts_nothing(
    slack: SlackBot, metadata: str | None, problem: str
) -> None:
    view: dict[str, Any] = {"id": "V0FORGED", "type": "modal", "callback_id": "chatops.params"}
    if metadata is not None:
        view["private_metadata"] = metadata
    payload = {"type": "view_submission", "user": {"id": "U0ALICE"}, "view": view}
    response = await slack.post(form(payload), FORM)
    await slack.settle()
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "update"
    assert problem in json.dumps(answer["view"])
    assert "nothing was changed" in json.dumps(answer["view"])
    assert await slack.deps.store.list_runs(limit=5) == []


async def test_a_deny_form_the_bot_cannot_read_says_so_in_the_form(slack: SlackBot) -> None:
    view = {"id": "V0X", "type": "modal", "callback_id": "chatops.deny"}
    view["private_metadata"] = '{"value": 5}'
    payload = {"type": "view_submission", "user": {"id": "U0BOB"}, "view": view}
    response = await slack.post(form(payload), FORM)
    assert response.status_code == 200
    assert response.json()["response_action"] == "update"
    assert "its metadata has no text `action_id`" in json.dumps(response.json()["view"])


@pytest.mark.parametrize(
    ("value", "problem"),
    [(7, "`actions[0].value` is a number, not a string"), (None, "`actions[0].value` is missing")],
)
async def test_a_click_whose_value_is_unreadable_is_answered_privately(
    slack: SlackBot, value: Any, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = click_payload(response_url=slack.fake.response_url("click"))
    payload["actions"][0]["value"] = value
    response = await slack.post(form(payload), FORM)
    await slack.settle()
    assert response.status_code == 200
    assert slack.ephemeral() == [
        f"I couldn't read that request from Slack ({problem}), so nothing was done."
    ]
    logged = capsys.readouterr().err
    assert "slack_payload_unreadable" in logged
    assert "button click" in logged


@pytest.mark.parametrize("user", [None, "missing"])
async def test_a_click_from_nobody_is_logged_and_changes_nothing(
    slack: SlackBot, user: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    await slack.command("clear-cache index_name=kb")
    payload = click_payload(response_url=slack.fake.response_url("click"))
    if user is None:
        payload["user"] = None
    else:
        del payload["user"]
    response = await slack.post(form(payload), FORM)
    await slack.settle()
    assert response.status_code == 200
    run = await slack.deps.store.get_run(1)
    assert run is not None and run.status.value == "pending"
    logged = capsys.readouterr().err
    assert "slack_payload_unreadable" in logged
    assert "`user` is missing" in logged


async def test_a_command_without_a_channel_is_answered_through_its_response_url(
    slack: SlackBot,
) -> None:
    body, content_type = slack.command_request("clear-cache")
    body = body.replace(b"channel_id=C0INCIDENTS&", b"")
    assert (await slack.post(body, content_type)).status_code == 200
    await slack.settle()
    assert slack.ephemeral() == [
        "I couldn't read that request from Slack (`channel_id` is missing), so nothing was done."
    ]
    assert await slack.deps.store.list_runs(limit=5) == []


async def test_a_command_without_a_user_is_logged_and_changes_nothing(
    slack: SlackBot, capsys: pytest.CaptureFixture[str]
) -> None:
    body, content_type = slack.command_request("clear-cache")
    body = body.replace(b"user_id=U0ALICE&", b"")
    assert (await slack.post(body, content_type)).status_code == 200
    await slack.settle()
    assert slack.ephemeral() == []
    assert "`user_id` is missing" in capsys.readouterr().err
    assert await slack.deps.store.list_runs(limit=5) == []


def mention(event: dict[str, Any], event_id: str = "Ev1") -> bytes:
    return json.dumps(
        {"type": "event_callback", "team_id": "T0001", "event_id": event_id, "event": event}
    ).encode()


async def test_a_mention_whose_text_is_not_text_is_answered_privately(slack: SlackBot) -> None:
    event = {"type": "app_mention", "user": "U0ALICE", "channel": "C0INCIDENTS", "text": 42}
    assert (await slack.post(mention(event), "application/json")).status_code == 200
    await slack.settle()
    [ephemeral] = slack.fake.of("chat.postEphemeral")
    assert ephemeral.args["user"] == "U0ALICE"
    assert "`event.text` is a number, not a string" in json.dumps(ephemeral.args)


async def test_a_mention_without_a_channel_is_logged(
    slack: SlackBot, capsys: pytest.CaptureFixture[str]
) -> None:
    event = {"type": "app_mention", "user": "U0ALICE", "text": "<@U0BOT> playbook list"}
    assert (await slack.post(mention(event), "application/json")).status_code == 200
    await slack.settle()
    assert slack.fake.calls[1:] == []
    assert "`event.channel` is missing" in capsys.readouterr().err


async def test_five_replays_of_one_signed_command_post_one_card(slack: SlackBot) -> None:
    body, content_type = slack.command_request("clear-cache index_name=kb")
    for _ in range(5):
        assert (await slack.post(body, content_type)).status_code == 200
    await slack.settle()
    assert [run.id for run in await slack.deps.store.list_runs(limit=10)] == [1]
    assert len(slack.fake.of("chat.postMessage")) == 1


async def test_a_replayed_click_acts_once(slack: SlackBot) -> None:
    await slack.command("clear-cache index_name=kb")
    body, content_type = slack.click_request("Cancel", 1, user="U0ALICE")
    for _ in range(3):
        assert (await slack.post(body, content_type)).status_code == 200
    await slack.settle()
    run = await slack.deps.store.get_run(1)
    assert run is not None and run.status.value == "cancelled"
    assert slack.ephemeral() == []  # no "can't cancel: it is cancelled now" for the replays


async def test_a_params_form_the_bot_never_opened_starts_nothing(slack: SlackBot) -> None:
    await slack.command("restart-service replicas=3")
    view = slack.fake.of("views.open")[-1].args["view"]
    values = {
        "param.service": {"value": {"type": "static_select", "selected_option": {"value": "api"}}}
    }
    forged = await slack.submit(view, values, user="U0ALICE", view_id="V0NEVEROPENED")
    assert forged.status_code == 200
    assert await slack.deps.store.list_runs(limit=5) == []
    assert slack.ephemeral() == [
        "That form was not opened for you by me, or was already sent, so nothing was done."
    ]
    someone_else = await slack.submit(view, values, user="U0MALLORY")
    assert someone_else.status_code == 200
    assert await slack.deps.store.list_runs(limit=5) == []


async def test_a_form_is_accepted_once(slack: SlackBot) -> None:
    await slack.command("restart-service replicas=3")
    view = slack.fake.of("views.open")[-1].args["view"]
    values = {
        "param.service": {"value": {"type": "static_select", "selected_option": {"value": "api"}}}
    }
    await slack.submit(view, values, user="U0ALICE")
    await slack.submit(view, values, user="U0ALICE")
    assert [run.id for run in await slack.deps.store.list_runs(limit=5)] == [1]
