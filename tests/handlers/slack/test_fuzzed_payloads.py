"""Signed payloads with fields of every wrong type: answered 200, 400 or 404, never 500.

Each example takes a payload the bot handles (a command, a click, a form, a mention) and
replaces one field, at any depth, with a value of another JSON type, signs it, and sends
it. Whatever comes back, the bot keeps serving: no 500, no work item that crashes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.handlers.slack.conftest import FIXTURES, SlackBot

FORM = "application/x-www-form-urlencoded"
RESPONSE_URL = "http://response.url/placeholder"  # replaced by the fake Slack's before sending

JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def click() -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / "slack-block-actions.json").read_text())
    payload["actions"][0] |= {"action_id": "chatops.cancel", "value": "1"}
    payload["response_url"] = RESPONSE_URL
    return payload


def form_sent(callback_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": "T0001"},
        "user": {"id": "U0ALICE", "username": "alice"},
        "trigger_id": "1.2.3",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": json.dumps(metadata),
            "state": {"values": {"param.index_name": {"value": {"type": "x", "value": "kb"}}}},
        },
    }


def mention() -> dict[str, Any]:
    event = {
        "type": "app_mention",
        "user": "U0ALICE",
        "channel": "C0INCIDENTS",
        "text": "<@U0BOT> playbook list",
        "ts": "1.1",
    }
    return {"type": "event_callback", "team_id": "T0001", "event_id": "Ev1", "event": event}


PAYLOADS: list[dict[str, Any]] = [
    click(),
    form_sent("chatops.params", {"playbook": "clear-cache", "channel": "C0INCIDENTS"}),
    form_sent("chatops.deny", {"action_id": "chatops.deny", "value": "1", "channel": "C1"}),
    mention(),
]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in ``value`` a field could be replaced."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield (*prefix, index)
            yield from paths(inner, (*prefix, index))


def replaced(payload: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(payload))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


MUTATIONS = st.sampled_from(PAYLOADS).flatmap(
    lambda payload: st.tuples(st.just(payload), st.sampled_from(list(paths(payload))), JSON_VALUES)
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mutation=MUTATIONS, as_json=st.booleans())
async def test_a_signed_payload_with_any_field_of_another_type_never_gets_a_500(
    slack: SlackBot,
    capsys: pytest.CaptureFixture[str],
    mutation: tuple[dict[str, Any], tuple[Any, ...], Any],
    as_json: bool,
) -> None:
    payload, path, value = mutation
    text = json.dumps(replaced(payload, path, value))
    text = text.replace(RESPONSE_URL, slack.fake.response_url("fuzz"))
    body = text.encode() if as_json else urlencode({"payload": text}).encode()
    response = await slack.post(body, "application/json" if as_json else FORM)
    assert response.status_code in (200, 400, 404), response.text
    await slack.settle()
    logged = capsys.readouterr().err
    assert "slack_handler_failed" not in logged  # no work item behind the ack crashed
    assert "Traceback" not in logged


@pytest.mark.parametrize(
    "field",
    ["text", "user_id", "channel_id", "command", "response_url", "trigger_id", "user_name"],
)
async def test_a_slash_command_missing_any_field_never_gets_a_500(
    slack: SlackBot, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    body, content_type = slack.command_request("clear-cache index_name=kb")
    fields = [part for part in body.split(b"&") if not part.startswith(field.encode() + b"=")]
    response = await slack.post(b"&".join(fields), content_type)
    assert response.status_code in (200, 400)
    await slack.settle()
    assert "slack_handler_failed" not in capsys.readouterr().err
