"""Telegram end to end: updates in (long polling), calls to a fake Bot API out."""

from __future__ import annotations

from bot.lifecycle import RunStatus
from tests.handlers.telegram.conftest import CHAT, OTHER_CHAT, TOPIC, TelegramBot
from tests.support.fake_telegram import ALICE, BOB, BOT_USERNAME, CAROL, MALLORY, parse_html
from tests.support.stub_server import StubServer

CACHE_CLEAR = "/kb/_cache/clear"


async def status(telegram: TelegramBot, run_id: int) -> RunStatus:
    run = await telegram.deps.store.get_run(run_id)
    assert run is not None
    return run.status


async def test_a_command_posts_a_card_and_run_executes_with_progress_as_replies(
    telegram: TelegramBot, stub_server: StubServer
) -> None:
    stub_server.route("POST", CACHE_CLEAR, json={"_shards": {"failed": 0}})
    await telegram.command("/playbook clear-cache index_name=kb")

    card = telegram.card(1)
    assert [label for label, _ in card.buttons] == ["Run", "Cancel"]
    assert "Dry run ready: waiting for Run" in card.text
    assert "<b>Clear Elasticsearch cache · run #1</b>" in card.html
    assert stub_server.requests == []

    query = await telegram.press("Run", user=ALICE)
    assert await status(telegram, 1) is RunStatus.SUCCEEDED
    assert len(stub_server.calls("POST", CACHE_CLEAR)) == 1
    assert telegram.answer(query) == {"callback_query_id": query}  # answered, nothing to say
    card = telegram.card(1)
    assert card.edits >= 1 and "Succeeded" in card.text  # edited in place
    assert card.buttons == []  # nothing left to press
    thread = [m.text for m in telegram.thread(1)]
    assert thread[0] == "▶️ Started by alice."
    assert any("clear succeeded" in text for text in thread)
    assert thread[-1].startswith("✅ Run #1 succeeded")


async def test_two_approvers_approve_in_a_reply_to_the_card_and_the_run_starts(
    telegram: TelegramBot, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/restart/api", json={"ok": True})
    await telegram.command("/playbook restart-service service=api")
    card = telegram.card(1)
    assert [label for label, _ in card.buttons] == ["Cancel"]
    [request] = telegram.thread(1)
    assert request.text.startswith("🔐 Approval needed for run #1")
    assert [label for label, _ in request.buttons] == ["Approve", "Deny"]
    # The approvers are mentioned, so Telegram notifies them.
    assert 'href="tg://user?id=222222222"' in request.html
    assert 'href="tg://user?id=333333333"' in request.html

    first = await telegram.press("Approve", user=BOB)
    assert telegram.answer(first) == {"callback_query_id": first}
    assert await status(telegram, 1) is RunStatus.PENDING  # 1 of 2
    assert "approved by bob; waiting for 1 more" in telegram.card(1).text

    await telegram.press("Approve", user=CAROL)
    assert await status(telegram, 1) is RunStatus.SUCCEEDED
    assert len(stub_server.calls("POST", "/restart/api")) == 1
    assert "approved by bob, carol" in telegram.card(1).text
    # The request is edited in place: how the wait ended, and no buttons.
    request = telegram.fake.message(CHAT, request.id)
    assert request.text.endswith("\n✅ Approved by bob, carol.")
    assert request.buttons == []


async def test_approving_ones_own_run_is_refused_with_an_alert(
    telegram: TelegramBot, stub_server: StubServer
) -> None:
    await telegram.command("/playbook restart-service service=api", user=BOB)
    query = await telegram.press("Approve", user=BOB)
    assert telegram.answer(query) == {
        "callback_query_id": query,
        "text": "You requested run #1, so someone else must approve or deny it.",
        "show_alert": True,
    }
    mallory = await telegram.press("Approve", user=MALLORY)
    assert telegram.answer(mallory)["text"] == (
        "You may not approve or deny run #1: it needs sre-lead."
    )
    assert telegram.answer(mallory)["show_alert"] is True
    assert await status(telegram, 1) is RunStatus.PENDING
    assert "0 of 2" in telegram.card(1).text


async def test_deny_asks_why_with_a_reply_prompt_and_the_reply_denies(
    telegram: TelegramBot, stub_server: StubServer
) -> None:
    await telegram.command("/playbook restart-service service=worker")
    [request] = telegram.thread(1)
    query = await telegram.press("Deny", user=CAROL)
    assert telegram.answer(query)["text"] == "Reply to my question with why you deny run #1."
    assert await status(telegram, 1) is RunStatus.PENDING  # nothing decided yet
    [question] = [m for m in telegram.fake.messages(CHAT) if m.force_reply]
    assert question.reply_to == request.id and question.thread == TOPIC
    assert question.text.startswith("carol, why deny run #1?")
    assert 'href="tg://user?id=333333333"' in question.html

    await telegram.reply(question, "tonight, <b>not now</b> & not here", user=BOB)
    assert telegram.said()[-1] == (
        "That question was for someone else. To deny, press Deny yourself."
    )
    assert await status(telegram, 1) is RunStatus.PENDING

    await telegram.reply(question, "tonight, <b>not now</b> & not here", user=CAROL)
    assert await status(telegram, 1) is RunStatus.DENIED
    card = telegram.card(1)
    assert "denied by carol: tonight, <b>not now</b> & not here" in card.text
    assert card.buttons == []
    request = telegram.fake.message(CHAT, request.id)
    assert request.text.endswith("🚫 Denied by carol: tonight, <b>not now</b> & not here")
    assert request.buttons == []
    await telegram.reply(question, "again", user=CAROL)  # answered once: nothing more
    assert stub_server.requests == []


async def test_a_command_in_a_chat_not_served_gets_one_polite_refusal_and_runs_nothing(
    telegram: TelegramBot, stub_server: StubServer
) -> None:
    await telegram.command("/playbook clear-cache", chat=OTHER_CHAT, thread=None)
    [refusal] = telegram.fake.messages(OTHER_CHAT)
    assert refusal.text == (
        "Sorry, I don't serve this chat, so nothing was done. To use me here, an admin adds "
        f"its ID {OTHER_CHAT} to telegram.allowed_chats in my config."
    )
    assert await telegram.deps.store.get_run(1) is None
    assert telegram.fake.messages(CHAT) == []


async def test_commands_addressed_to_this_bot_are_served_and_to_another_bot_ignored(
    telegram: TelegramBot,
) -> None:
    await telegram.command("/playbook@other_bot clear-cache")
    await telegram.command("/start")
    assert telegram.fake.messages(CHAT) == []
    await telegram.command(f"/playbook@{BOT_USERNAME} clear-cache")
    assert "Clear Elasticsearch cache · run #1" in telegram.card(1).text


async def test_everything_stays_in_the_commands_forum_topic(
    telegram: TelegramBot, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/restart/worker", json={"ok": True})
    await telegram.command("/playbook restart-service service=worker", thread=TOPIC)
    await telegram.press("Approve", user=BOB)
    await telegram.press("Approve", user=CAROL)
    await telegram.command("/playbook status 1", thread=TOPIC)
    await telegram.command("/playbook nope", thread=TOPIC)

    sent = telegram.fake.of("sendMessage")
    assert len(sent) >= 6
    assert all(call.args["message_thread_id"] == TOPIC for call in sent)
    card = telegram.card(1)
    assert card.thread == TOPIC
    assert all(m.thread == TOPIC and m.reply_to == card.id for m in telegram.thread(1))
    assert all(
        call.args["chat_id"] == CHAT and call.args["message_id"]
        for call in telegram.fake.of("editMessageText")
    )


async def test_html_in_params_and_output_is_shown_as_typed_and_never_parsed(
    telegram: TelegramBot, stub_server: StubServer
) -> None:
    stub_server.route("POST", "/announce", body="<script>&amp; </pre>")
    await telegram.command('/playbook announce message="<b>down</b> & <a href=x>out"')
    card = telegram.card(1)
    assert "message=<b>down</b> & <a href=x>out" in card.text  # shown as typed...
    assert "&lt;b&gt;down&lt;/b&gt; &amp; &lt;a href=x&gt;out" in card.html  # ...escaped
    await telegram.press("Run", user=ALICE)
    output = [m for m in telegram.thread(1) if "<script>" in m.text]
    assert output and "&lt;script&gt;&amp;amp; &lt;/pre&gt;" in output[0].html
    for message in telegram.fake.messages(CHAT):
        assert parse_html(message.html)[1] is None
    assert not [call for call in telegram.fake.calls if call.failed]


async def test_missing_params_are_named_in_a_usage_message(telegram: TelegramBot) -> None:
    await telegram.command("/playbook restart-service")
    [usage] = telegram.said()
    assert usage.splitlines() == [
        "restart-service needs this param:",
        "• service (string) — one of api, worker: which one",
        "Send it again with it:",
        "/playbook restart-service service=api",
    ]
    assert (
        "<code>/playbook restart-service service=api</code>"
        in telegram.fake.messages(CHAT)[-1].html
    )
    assert await telegram.deps.store.get_run(1) is None


async def test_errors_and_lists_are_answered_as_replies_to_the_command(
    telegram: TelegramBot,
) -> None:
    await telegram.command("/playbook clear-cach")
    await telegram.command("/playbook status twelve")
    await telegram.command("/playbook list")
    said = telegram.said()
    assert said[:2] == [
        "Unknown playbook clear-cach. Did you mean clear-cache? Try /playbook list.",
        "twelve is not a run number; runs look like #12.",
    ]
    assert "clear-cache" in said[2] and "latency-spike" in said[2]


async def test_cancel_from_the_card_and_a_stranger_pressing_run_is_told_why(
    telegram: TelegramBot, stub_server: StubServer
) -> None:
    await telegram.command("/playbook clear-cache")
    stranger = await telegram.press("Run", user=MALLORY)
    assert telegram.answer(stranger)["text"] == "Only alice, who requested run #1, can press Run."
    await telegram.press("Cancel", user=ALICE)
    assert await status(telegram, 1) is RunStatus.CANCELLED
    assert "Cancelled" in telegram.card(1).text
    assert stub_server.requests == []
