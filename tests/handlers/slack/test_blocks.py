"""Block Kit rendering stays within Slack's limits, buttons round-trip, and the fake Slack
accepts what slack_sdk really sends."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.chat import Button, ButtonAction, Card, CardField
from handlers.slack.blocks import (
    ACTION_PREFIX,
    MAX_TOTAL_TEXT,
    action_id,
    button_element,
    button_value,
    card_blocks,
    card_text,
    fallback_text,
    message_blocks,
    parse_button,
    text_size,
    truncate,
)
from handlers.slack.text import mention, text_total
from tests.support.fake_slack import FakeSlack, blocks_problem

# -- helpers --------------------------------------------------------------------------------


def assert_slack_accepts(blocks: list[dict[str, Any]]) -> None:
    """Block Kit's limits, as Slack enforces them on chat.postMessage / chat.update."""
    assert blocks_problem(blocks) is None  # what the fake Slack refuses
    assert text_total(blocks) <= MAX_TOTAL_TEXT
    assert 1 <= len(blocks) <= 50
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(ids) == len(set(ids)), "block_ids must be unique in a message"
    for block in blocks:
        if block["type"] == "header":
            assert 0 < len(block["text"]["text"]) <= 150
            assert block["text"]["type"] == "plain_text"
        elif block["type"] == "section":
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            if "fields" in block:
                assert 1 <= len(block["fields"]) <= 10
                assert all(0 < len(f["text"]) <= 2000 for f in block["fields"])
        elif block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
            assert all(e["text"] for e in block["elements"])
        elif block["type"] == "actions":
            assert 1 <= len(block["elements"]) <= 25
            action_ids = [e["action_id"] for e in block["elements"]]
            assert len(action_ids) == len(set(action_ids))


def section_texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]


def plan_text(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(
        b["text"]["text"] for b in blocks if b.get("block_id", "").startswith("card-plan")
    )


def actions(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = [b for b in blocks if b["type"] == "actions"]
    return found[0]["elements"] if found else []


def make_card(**overrides: Any) -> Card:
    values: dict[str, Any] = {
        "title": "Clear the KB cache · run #7",
        "status": "Dry run ready: waiting for Run",
        "status_emoji": "🟡",
        "fields": [
            CardField("Requested by", "alice"),
            CardField("Params", "index_name=kb"),
            CardField("Risk", "low"),
        ],
        "plan": ["▫️ 1. `clear` POST /kb/_cache/clear", "▫️ 2. `notify` tell #ops"],
        "notes": [],
        "buttons": [
            Button(ButtonAction.RUN, 7, style="primary", confirm="Run clear-cache now?"),
            Button(ButtonAction.CANCEL, 7),
        ],
        "run_id": 7,
    }
    values.update(overrides)
    return Card(**values)


# -- cards ----------------------------------------------------------------------------------


def test_a_card_reads_top_to_bottom() -> None:
    card = make_card(notes=["⚠️ the index is large"])
    blocks = card_blocks(card)
    assert_slack_accepts(blocks)
    assert [b["block_id"] for b in blocks] == [
        "card-header",
        "card-status",
        "card-fields",
        "card-divider",
        "card-plan",
        "card-notes",
        "card-actions",
    ]
    assert blocks[0]["text"]["text"] == "🟡 Clear the KB cache · run #7"
    assert blocks[1]["text"]["text"] == "*Dry run ready: waiting for Run*"
    assert [f["text"] for f in blocks[2]["fields"]] == [
        "*Requested by*\nalice",
        "*Params*\nindex_name=kb",
        "*Risk*\nlow",
    ]
    assert plan_text(blocks) == "*Plan*\n" + "\n".join(card.plan)
    assert blocks[5]["elements"][0]["text"] == "⚠️ the index is large"
    assert [e["text"]["text"] for e in actions(blocks)] == ["Run", "Cancel"]
    assert card_text(card) == "🟡 Clear the KB cache · run #7 — Dry run ready: waiting for Run"


def test_block_ids_are_stable_across_updates() -> None:
    before = card_blocks(make_card())
    after = card_blocks(make_card(status="Running step 1 of 2", status_emoji="🔵"))
    assert [b["block_id"] for b in before] == [b["block_id"] for b in after]


def test_a_finished_card_has_no_buttons_notes_or_empty_blocks() -> None:
    blocks = card_blocks(make_card(buttons=[], notes=[], plan=[], fields=[]))
    assert_slack_accepts(blocks)
    assert [b["type"] for b in blocks] == ["header", "section"]


def test_a_plan_that_fits_the_message_is_whole() -> None:
    plan = [f"▫️ {i}. `step-{i}` " + "x" * 90 for i in range(1, 81)]  # ~8,500 characters
    blocks = card_blocks(make_card(plan=plan))
    assert_slack_accepts(blocks)
    assert plan_text(blocks) == "\n".join(["*Plan*", *plan])
    assert len([b for b in blocks if b["block_id"].startswith("card-plan")]) == 3


def test_a_400_line_plan_is_cut_to_the_message_budget() -> None:
    plan = [f"▫️ {i}. `step-{i}` " + "x" * 190 for i in range(1, 401)]  # ~80,000 characters
    blocks = card_blocks(make_card(plan=plan))
    assert_slack_accepts(blocks)
    assert text_total(blocks) > MAX_TOTAL_TEXT - 300  # the budget is used, not wasted
    shown = plan_text(blocks).split("\n")
    match = re.fullmatch(r"… (\d+) more lines \(see `/playbook status 7`\)", shown[-1])
    assert match, shown[-1]
    kept = shown[1:-1]
    assert kept == plan[: len(kept)]
    assert int(match.group(1)) == len(plan) - len(kept)
    assert blocks[-1]["block_id"] == "card-actions"  # the buttons survive


def test_a_plan_too_long_for_one_message_is_cut_with_a_pointer_to_status() -> None:
    plan = [f"▫️ {i}. `step-{i}` " + "x" * 390 for i in range(1, 1001)]
    card = make_card(plan=plan, notes=["⚠️ n"] * 3, run_id=42)
    blocks = card_blocks(card)
    assert_slack_accepts(blocks)
    assert blocks[-2]["block_id"] == "card-notes"
    assert blocks[-1]["block_id"] == "card-actions"
    shown = plan_text(blocks).split("\n")
    last = shown[-1]
    match = re.fullmatch(r"… (\d+) more lines \(see `/playbook status 42`\)", last)
    assert match, last
    kept = shown[1:-1]  # without the "*Plan*" heading and the note
    assert kept == plan[: len(kept)]
    assert int(match.group(1)) == len(plan) - len(kept)


def test_the_header_is_cut_to_150_and_keeps_the_emoji() -> None:
    card = make_card(title="Restart " + "very-long-service-name-" * 20)
    header = card_blocks(card)[0]["text"]["text"]
    assert len(header) <= 150
    assert header.startswith("🟡 Restart very-long")
    assert header.endswith("…")
    assert len(card_text(make_card(status="s" * 5000))) <= 3000


def test_many_and_huge_fields_are_spread_over_sections_within_limits() -> None:
    fields = [CardField(f"Field {i}", "v" * 5000) for i in range(25)]
    blocks = card_blocks(make_card(fields=fields))
    assert_slack_accepts(blocks)
    field_sections = [b for b in blocks if "fields" in b]
    assert [len(b["fields"]) for b in field_sections] == [10, 10, 5]
    assert field_sections[0]["fields"][0]["text"].startswith("*Field 0*\nvvv")
    assert field_sections[0]["fields"][0]["text"].endswith("…")


def test_far_too_many_fields_say_how_many_were_left_out() -> None:
    fields = [CardField(f"F{i}", str(i)) for i in range(45)]
    blocks = card_blocks(make_card(fields=fields))
    assert_slack_accepts(blocks)
    texts = [f["text"] for b in blocks if "fields" in b for f in b["fields"]]
    assert len(texts) == 30
    assert texts[-1] == "*…*\n16 more fields"


def test_many_notes_fit_one_context_block() -> None:
    blocks = card_blocks(make_card(notes=[f"⚠️ problem {i}" for i in range(14)]))
    assert_slack_accepts(blocks)
    notes = next(b for b in blocks if b["block_id"] == "card-notes")["elements"]
    assert len(notes) == 10
    assert notes[-1]["text"] == "… 5 more notes"


# -- long texts -----------------------------------------------------------------------------


def test_playbook_list_of_100_playbooks_is_whole_and_split_at_lines() -> None:
    lines = ["*Playbooks you can run*"] + [
        f"• `playbook-{i:03d}` — restarts the thing number {i} and explains itself"
        for i in range(100)
    ]
    text = "\n".join(lines)
    blocks = message_blocks(text)
    assert_slack_accepts(blocks)
    assert len(blocks) > 1
    assert "\n".join(section_texts(blocks)) == text
    for i in range(100):
        assert sum(f"`playbook-{i:03d}`" in t for t in section_texts(blocks)) == 1


def test_60_kb_of_output_is_cut_to_the_message_budget() -> None:
    lines = [f"{i:05d} " + "o" * 94 for i in range(600)]  # 60 kB
    blocks = message_blocks("\n".join(lines), [Button(ButtonAction.CANCEL, 3)])
    assert_slack_accepts(blocks)
    assert blocks[-1]["type"] == "actions"
    texts = section_texts(blocks)
    match = re.fullmatch(r"… \(truncated: (\d+) more lines\)", texts[-1])
    assert match, texts[-1]
    kept = "\n".join(texts[:-1]).split("\n")
    assert kept == lines[: len(kept)]
    assert len(kept) > 100  # most of the 12,000 characters are output
    assert int(match.group(1)) == len(lines) - len(kept)


def test_a_text_too_long_for_a_message_says_how_much_was_cut() -> None:
    lines = [f"{i:05d} " + "o" * 194 for i in range(2000)]  # 400 kB
    buttons = [Button(ButtonAction.APPROVE, 5, "deploy"), Button(ButtonAction.DENY, 5, "deploy")]
    blocks = message_blocks("\n".join(lines), buttons)
    assert_slack_accepts(blocks)
    assert blocks[-1]["type"] == "actions"
    texts = section_texts(blocks)
    match = re.fullmatch(r"… \(truncated: (\d+) more lines\)", texts[-1])
    assert match, texts[-1]
    kept = "\n".join(texts[:-1]).split("\n")
    assert kept == lines[: len(kept)]
    assert int(match.group(1)) == len(lines) - len(kept)


def test_long_lines_fill_the_text_budget_and_no_more() -> None:
    blocks = message_blocks("\n".join("z" * 2999 for _ in range(80)))
    assert_slack_accepts(blocks)
    assert section_texts(blocks) == ["z" * 2999] * 3 + ["… (truncated: 77 more lines)"]


def test_a_single_huge_line_is_cut_with_an_ellipsis() -> None:
    blocks = message_blocks("q" * 60_000)
    assert_slack_accepts(blocks)
    assert len(blocks) == 1
    assert blocks[0]["text"]["text"] == "q" * 2999 + "…"


@pytest.mark.parametrize("text", ["", "\n\n", "   "])
def test_empty_text_never_makes_an_empty_section(text: str) -> None:
    blocks = message_blocks(text)
    assert_slack_accepts(blocks)
    assert blocks[0]["text"]["text"].strip() == ""
    with_buttons = message_blocks(text, [Button(ButtonAction.RESUME, 1)])
    assert_slack_accepts(with_buttons)


def test_blank_lines_inside_a_text_are_kept() -> None:
    assert section_texts(message_blocks("*Run #3*\n\n• step one\n")) == ["*Run #3*\n\n• step one"]


def test_truncate() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("exactly10!", 10) == "exactly10!"
    assert truncate("one two three", 8) == "one two…"
    assert len(truncate("x" * 5000, 3000)) == 3000
    # Slack counts UTF-16 units: an emoji outside the BMP takes two.
    assert truncate("🟡" * 10, 5) == "🟡🟡…"
    with pytest.raises(ValueError, match="at least 1"):
        truncate("x", 0)


def test_huge_status_fields_notes_and_plan_together_stay_within_the_budget() -> None:
    card = make_card(
        status="s" * 5000,
        fields=[CardField("Params", "p" * 5000), CardField("Risk", "low")] * 6,
        notes=["n" * 5000] * 12,
        plan=["x" * 2000] * 30,
    )
    blocks = card_blocks(card)
    assert_slack_accepts(blocks)
    fields = [f["text"] for b in blocks if "fields" in b for f in b["fields"]]
    assert "*Risk*\nlow" in fields  # short fields stay whole; long ones share the rest
    assert plan_text(blocks).startswith("*Plan*\n")
    assert blocks[-1]["block_id"] == "card-actions"


# -- escaping -------------------------------------------------------------------------------


def test_text_from_people_cannot_ping_a_channel_or_hide_a_link() -> None:
    reason = "<!channel> wake up & see <https://evil.example|the docs>"
    card = make_card(
        fields=[CardField("Approval", f"denied by mallory: {reason}")],
        plan=[f"▫️ 1. `call` GET https://x/?a=1&b=2 → {reason}"],
        notes=[f"Error: {reason}"],
        status=f"Denied: {reason}",
    )
    blocks = card_blocks(card)
    assert_slack_accepts(blocks)
    text = json.dumps(blocks)
    assert "<!channel>" not in text and "<https://" not in text
    assert "&lt;!channel&gt; wake up &amp; see &lt;https://evil.example|the docs&gt;" in text
    assert "GET https://x/?a=1&amp;b=2" in text
    thread = message_blocks(f"🚫 Denied by mallory: {reason}")
    assert section_texts(thread) == [
        "🚫 Denied by mallory: &lt;!channel&gt; wake up &amp; see "
        "&lt;https://evil.example|the docs&gt;"
    ]
    assert fallback_text("<!here> hi") == "&lt;!here&gt; hi"
    assert "&lt;!here&gt;" in card_text(make_card(status="<!here>"))


def test_the_cores_own_mentions_still_notify() -> None:
    text = f"🔐 Approval needed. {mention('S0LEADS')} {mention('U0BOB')}: <@U0EVE> & <!everyone>"
    expected = (
        "🔐 Approval needed. <!subteam^S0LEADS> <@U0BOB>: &lt;@U0EVE&gt; &amp; &lt;!everyone&gt;"
    )
    assert section_texts(message_blocks(text)) == [expected]
    assert fallback_text(text) == expected
    forged = "\ue000" + "0" * 16 + ":U0EVE\ue001"  # a token without this process's secret
    assert "<@U0EVE>" not in section_texts(message_blocks(forged))[0]
    header = card_blocks(make_card(title=f"Ask {mention('U0BOB')}"))[0]["text"]["text"]
    assert header == "🟡 Ask @U0BOB"  # plain_text: nothing is parsed there


def test_a_cut_never_splits_an_entity_or_a_mention() -> None:
    for pad in range(10):
        text = "x" * (2990 + pad) + " & <!channel> " + mention("U0BOB") + " end" * 10
        section = section_texts(message_blocks(text))[0]
        assert len(section) <= 3000
        assert section.endswith("…")
        body = section.removesuffix("…")
        assert not re.search(r"&[a-z]*$|<[^>]*$", body), body[-12:]


# -- buttons --------------------------------------------------------------------------------


@pytest.mark.parametrize("action", list(ButtonAction))
@pytest.mark.parametrize("step", [None, "deploy", "db:migrate", ""])
def test_buttons_round_trip(action: ButtonAction, step: str | None) -> None:
    button = Button(action, 1234, step, style="danger", confirm="Sure?")
    element = button_element(button)
    assert element["action_id"] == action_id(button) == f"chatops.{action.value}"
    assert element["value"] == button_value(button)
    parsed = parse_button(element["action_id"], element["value"])
    assert (parsed.action, parsed.run_id, parsed.step) == (action, 1234, step)


def test_values_are_run_id_and_step() -> None:
    assert button_value(Button(ButtonAction.APPROVE, 9)) == "9"
    assert button_value(Button(ButtonAction.APPROVE, 9, "restart")) == "9:restart"
    assert ACTION_PREFIX == "chatops."


@pytest.mark.parametrize(
    ("action", "value", "message"),
    [
        ("chatops.explode", "1", "I don't know the button action 'explode'"),
        ("chatops.", "1", "I don't know the button action"),
        ("chatops.approve.x", "1", "I don't know the button action"),
        ("other.approve", "1", "not one of my buttons"),
        ("chatops.approve", "", "names no run"),
        ("chatops.approve", "abc", "names no run"),
        ("chatops.approve", "-1", "names no run"),
        ("chatops.approve", " 7", "names no run"),
        ("chatops.approve", "7.5:step", "names no run"),
        ("chatops.approve", "٣", "names no run"),
    ],
)
def test_malformed_clicks_are_refused_clearly(action: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_button(action, value)


def test_labels_are_exactly_the_grammar_words() -> None:
    labels = [button_element(Button(a, 1))["text"]["text"] for a in ButtonAction]
    # Start: the button of a playbook an alert suggests (docs/scheduler.md).
    assert labels == ["Run", "Cancel", "Approve", "Deny", "Resume", "Abort", "Start"]


def test_confirm_dialog_only_when_the_button_asks() -> None:
    plain = button_element(Button(ButtonAction.CANCEL, 1))
    assert "confirm" not in plain
    assert "style" not in plain  # default style is Slack's default: no field

    asked = button_element(
        Button(ButtonAction.RESUME, 1, style="primary", confirm="Resume this run?")
    )
    assert asked["style"] == "primary"
    confirm = asked["confirm"]
    assert confirm["title"]["text"] == "Are you sure?"
    assert confirm["text"]["text"] == "Resume this run?"
    assert confirm["confirm"]["text"] == "Resume"
    assert confirm["deny"]["text"] == "Back"

    long = button_element(Button(ButtonAction.ABORT, 1, confirm="?" * 1000))
    assert len(long["confirm"]["text"]["text"]) <= 300


def test_repeated_actions_in_one_message_stay_distinct_and_parse_back() -> None:
    buttons = [
        Button(ButtonAction.APPROVE, 5, "a"),
        Button(ButtonAction.APPROVE, 5, "b"),
        Button(ButtonAction.APPROVE, 5, "b"),  # an exact duplicate is shown once
    ]
    elements = actions(message_blocks("Approve?", buttons))
    assert [e["action_id"] for e in elements] == ["chatops.approve", "chatops.approve.2"]
    parsed = [parse_button(e["action_id"], e["value"]) for e in elements]
    assert [(b.action, b.step) for b in parsed] == [
        (ButtonAction.APPROVE, "a"),
        (ButtonAction.APPROVE, "b"),
    ]


def test_more_than_25_buttons_are_capped() -> None:
    buttons = [Button(ButtonAction.RUN, i) for i in range(40)]
    blocks = message_blocks("many", buttons)
    assert_slack_accepts(blocks)
    assert len(actions(blocks)) == 25


# -- through slack_sdk to the fake ----------------------------------------------------------


async def test_rendered_blocks_go_through_slack_sdk_and_read_back(fake_slack: FakeSlack) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)
    huge_plan = [f"▫️ {i}. `s{i}` " + "x" * 390 for i in range(1000)]
    card = make_card(plan=huge_plan)

    posted = await client.chat_postMessage(
        channel="C0OPS", text=card_text(card), blocks=card_blocks(card)
    )
    assert posted["ok"] is True
    assert re.fullmatch(r"\d{10}\.\d{6}", posted["ts"])
    reply = await client.chat_postMessage(
        channel="C0OPS",
        thread_ts=posted["ts"],
        text="approve?",
        blocks=message_blocks("x\n" * 40_000, [Button(ButtonAction.APPROVE, 7)]),
    )
    assert float(reply["ts"]) > float(posted["ts"])

    done = make_card(status="Succeeded in 3s", status_emoji="✅", buttons=[])
    await client.chat_update(
        channel="C0OPS", ts=posted["ts"], text=card_text(done), blocks=card_blocks(done)
    )

    call = fake_slack.of("chat.postMessage")[0]
    assert call.token == "xoxb-test"
    assert call.args["blocks"] == card_blocks(card)  # a JSON body, read back intact
    card_message, thread_reply = fake_slack.messages("C0OPS")
    assert card_message["ts"] == posted["ts"]
    assert card_message["text"] == "✅ Clear the KB cache · run #7 — Succeeded in 3s"
    assert card_message["blocks"] == card_blocks(done)
    assert card_message["thread_ts"] is None
    assert thread_reply["thread_ts"] == posted["ts"]
    assert actions(thread_reply["blocks"])[0]["action_id"] == "chatops.approve"


async def test_form_encoded_calls_are_decoded(fake_slack: FakeSlack) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)
    blocks = message_blocks("hello *there*")
    await client.api_call(
        "chat.postMessage",
        data={"channel": "C1", "text": "hello", "blocks": json.dumps(blocks)},
    )
    assert fake_slack.of("chat.postMessage")[0].args["blocks"] == blocks
    assert fake_slack.messages("C1")[0]["blocks"] == blocks


async def test_the_fake_refuses_what_slack_refuses(fake_slack: FakeSlack) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)
    too_many = [{"type": "divider"}] * 51
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "a" * 3001}}]
    for blocks in (too_many, too_long):
        with pytest.raises(SlackApiError) as raised:
            await client.chat_postMessage(channel="C1", text="x", blocks=blocks)
        assert raised.value.response["error"] == "invalid_blocks"
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel="", text="x")
    assert raised.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as raised:
        await client.chat_update(channel="C1", ts="1.000001", text="x")
    assert raised.value.response["error"] == "message_not_found"
    assert fake_slack.messages("C1") == []
    assert len(fake_slack.calls) == 4


async def test_the_fake_refuses_more_than_12000_characters_of_text_everywhere(
    fake_slack: FakeSlack,
) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)
    five = [
        {"type": "section", "block_id": f"s{i}", "text": {"type": "mrkdwn", "text": "a" * 2500}}
        for i in range(5)
    ]
    for call in (
        client.chat_postMessage(channel="C1", text="x", blocks=five),
        client.chat_postEphemeral(channel="C1", user="U1", text="x", blocks=five),
    ):
        with pytest.raises(SlackApiError) as raised:
            await call
        assert raised.value.response["error"] == "msg_blocks_too_long"
    posted = await client.chat_postMessage(channel="C1", text="x", blocks=five[:4])
    with pytest.raises(SlackApiError) as raised:
        await client.chat_update(channel="C1", ts=posted["ts"], text="x", blocks=five)
    assert raised.value.response["error"] == "msg_blocks_too_long"

    webhook = AsyncWebhookClient(fake_slack.response_url(1))
    refused = await webhook.send(text="x", blocks=five, response_type="ephemeral")
    assert (refused.status_code, refused.body) == (400, "msg_blocks_too_long")
    invalid = await webhook.send(
        text="x", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "a" * 3001}}]
    )
    assert (invalid.status_code, invalid.body) == (400, "invalid_blocks")
    assert [call.failed for call in fake_slack.responses] == [True, True]


async def test_the_fake_refuses_a_modal_slack_would_not_open(fake_slack: FakeSlack) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)
    option = {"text": {"type": "plain_text", "text": "o" * 76}, "value": "o"}
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Params"},
        "blocks": [
            {
                "type": "input",
                "block_id": "param.x",
                "label": {"type": "plain_text", "text": "x"},
                "element": {"type": "static_select", "action_id": "v", "options": [option]},
            }
        ],
    }
    with pytest.raises(SlackApiError) as raised:
        await client.views_open(trigger_id="t1", view=view)
    assert raised.value.response["error"] == "invalid_arguments"
    assert "over 75 characters" in str(raised.value.response["response_metadata"])


async def test_a_rate_limit_is_retried_once_by_slack_sdk(fake_slack: FakeSlack) -> None:
    client = AsyncWebClient(
        token="xoxb-test",
        base_url=fake_slack.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    fake_slack.fail_next("chat.postMessage", retry_after=0)
    response = await client.chat_postMessage(channel="C1", text="hi")
    assert response["ok"] is True
    first, second = fake_slack.of("chat.postMessage")
    assert (first.failed, second.failed) == (True, False)
    assert len(fake_slack.messages("C1")) == 1


async def test_fail_next_without_a_retry_handler_is_an_error(fake_slack: FakeSlack) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url, retry_handlers=[])
    fake_slack.fail_next("chat.update", status=200, error="cant_update_message", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as raised:
            await client.chat_update(channel="C1", ts="1.1", text="x")
        assert raised.value.response["error"] == "cant_update_message"
    fake_slack.fail_next("auth.test")
    with pytest.raises(SlackApiError) as raised:
        await client.auth_test()
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["retry-after"] in ("1", ["1"])


async def test_the_other_methods_answer_like_slack(fake_slack: FakeSlack) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)
    assert (await client.auth_test())["user_id"] == "U0BOT"

    fake_slack.set_usergroup("S0ONCALL", ["U1", "U2"])
    assert (await client.usergroups_users_list(usergroup="S0ONCALL"))["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as raised:
        await client.usergroups_users_list(usergroup="S0NOPE")
    assert raised.value.response["error"] == "no_such_subteam"

    view = await client.views_open(trigger_id="t1", view={"type": "modal", "blocks": []})
    assert view["view"]["id"].startswith("V")
    ephemeral = await client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert ephemeral["message_ts"]
    assert fake_slack.messages("C1") == []  # ephemeral messages are not in the channel

    with pytest.raises(SlackApiError) as raised:
        await client.apps_connections_open(app_token="xapp-test")
    assert raised.value.response["error"] == "not_allowed"
    assert (await client.api_call("reactions.add", json={"name": "eyes"}))["ok"] is True

    webhook = AsyncWebhookClient(fake_slack.response_url(3))
    sent = await webhook.send(text="done", response_type="ephemeral")
    assert (sent.status_code, sent.body) == (200, "ok")
    assert fake_slack.responses[0].method == "response_url"
    assert fake_slack.responses[0].args["text"] == "done"
    assert fake_slack.responses[0].args["path"] == "/response/3"


def test_sizes_are_counted_in_utf16_units_as_slack_counts_them() -> None:
    assert text_size("") == 0
    assert text_size("plain ascii") == 11
    assert text_size("café ·") == 6  # one unit each, outside ASCII too
    assert text_size("🟡 ok") == 5  # an emoji outside the BMP takes two
    assert text_size("\ud83d") == 1  # a lone surrogate (from JSON) is one unit
    assert truncate("é" * 10, 5) == "éééé…"
    assert truncate("a🟡b", 3) == "a…"  # the emoji would not fit whole
    assert truncate("a🟡b", 4) == "a🟡b"


async def test_the_fake_counts_calls_per_method(fake_slack: FakeSlack) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url, retry_handlers=[])
    fake_slack.fail_next("chat.postMessage", status=200, error="channel_not_found")
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel="C1", text="hi")  # a failed call counts too
    for _ in range(2):
        await client.chat_postMessage(channel="C1", text="hi")
    await client.auth_test()
    assert fake_slack.count("chat.postMessage") == len(fake_slack.of("chat.postMessage")) == 3
    assert fake_slack.count("auth.test") == 1
    assert fake_slack.count("chat.update") == 0
