"""What an update asks of the bot, decided without a network (the shared fixtures first)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from telegram import Update

from handlers.telegram.updates import Clicked, Me, Refused, Replied, Typed, decide

FIXTURES = Path(__file__).parents[2] / "fixtures"
ME = Me(5000000000, "chatops_bot")
CHAT = -1001234567890
SERVED = frozenset({CHAT, 111111111})


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def decided(data: dict[str, Any], allowed: frozenset[int] = SERVED) -> object:
    return decide(Update.de_json(data, None), ME, allowed)


def command(text: str, **message: Any) -> dict[str, Any]:
    data = fixture("telegram-command-update.json")
    word = text.split(" ", 1)[0]
    data["message"] |= {
        "text": text,
        "entities": [{"offset": 0, "length": len(word), "type": "bot_command"}],
    }
    data["message"] |= message
    return data


def test_the_shared_command_fixture_is_a_playbook_command_in_its_forum_topic() -> None:
    typed = decided(fixture("telegram-command-update.json"))
    assert isinstance(typed, Typed)
    assert (typed.command, typed.arguments) == ("/playbook", "latency-spike service=api")
    assert (typed.actor.surface, typed.actor.id, typed.actor.name) == (
        "telegram",
        "111111111",
        "alice",
    )
    assert (typed.place.channel, typed.place.thread, typed.place.name) == (
        str(CHAT),
        "7",
        "incidents",
    )
    assert (typed.reply_to.chat_id, typed.reply_to.thread_id, typed.reply_to.message_id) == (
        CHAT,
        7,
        101,
    )


def test_the_shared_callback_fixture_is_a_press_carrying_only_its_key() -> None:
    data = fixture("telegram-callback-update.json")
    data["callback_query"]["data"] = "Zm9vYmFyYmF6cXV4"
    clicked = decided(data)
    assert isinstance(clicked, Clicked)
    assert (clicked.key, clicked.message_id, clicked.place.thread) == ("Zm9vYmFyYmF6cXV4", 102, "7")
    assert clicked.reply_to.query_id == "4382bfdwdsb323b2d9"
    assert clicked.actor.name == "bob"


def test_commands_for_this_bot_in_any_case_are_read_and_others_are_not() -> None:
    assert isinstance(decided(command("/playbook@ChatOps_Bot list")), Typed)
    assert isinstance(decided(command("/Schedule list")), Typed)
    assert decided(command("/playbook@other_bot list")) is None
    assert decided(command("/start")) is None
    not_first = command("hi /playbook list")
    not_first["message"]["entities"][0]["offset"] = 3
    assert decided(not_first) is None
    no_entity = command("/playbook list")
    del no_entity["message"]["entities"]
    assert decided(no_entity) is None


def test_a_command_in_a_chat_not_served_is_refused_once_with_its_id() -> None:
    refused = decided(command("/playbook list"), allowed=frozenset())
    assert isinstance(refused, Refused)
    assert f"`{CHAT}`" in refused.text and refused.reply_to.message_id == 101


def test_a_private_chat_is_served_only_when_listed() -> None:
    private = command(
        "/playbook list", chat={"id": 111111111, "type": "private", "first_name": "Alice"}
    )
    del private["message"]["message_thread_id"]
    typed = decided(private)
    assert isinstance(typed, Typed) and typed.place.thread is None
    assert isinstance(decided(private, allowed=frozenset({CHAT})), Refused)


def test_anonymous_admins_are_told_why_and_other_bots_ignored() -> None:
    anonymous = command("/playbook list")
    anonymous["message"]["from"] = {
        "id": 1087968824,
        "is_bot": True,
        "first_name": "Group",
        "username": "GroupAnonymousBot",
    }
    refused = decided(anonymous)
    assert isinstance(refused, Refused) and "Remain anonymous" in refused.text
    robot = command("/playbook list")
    robot["message"]["from"] = {"id": 42, "is_bot": True, "first_name": "Other"}
    assert decided(robot) is None


def test_a_reply_to_the_bot_is_read_and_other_chatter_is_not() -> None:
    reply = command(
        "because",
        reply_to_message={
            "message_id": 300,
            "date": 1,
            "chat": {"id": CHAT, "type": "supergroup"},
            "from": {"id": ME.id, "is_bot": True, "first_name": "chatops"},
            "text": "why?",
        },
    )
    del reply["message"]["entities"]
    replied = decided(reply)
    assert isinstance(replied, Replied)
    assert (replied.question, replied.text) == (300, "because")
    to_someone = copy.deepcopy(reply)
    to_someone["message"]["reply_to_message"]["from"]["id"] = 7
    assert decided(to_someone) is None
    plain = command("just chatting")
    del plain["message"]["entities"]
    assert decided(plain) is None


def test_topics_are_kept_only_in_forums() -> None:
    in_general = command("/playbook list")
    del in_general["message"]["message_thread_id"]
    del in_general["message"]["is_topic_message"]
    assert decided(in_general).place.thread is None  # type: ignore[attr-defined]
    reply_chain = command("/playbook list", chat={"id": CHAT, "type": "supergroup"})
    del reply_chain["message"]["is_topic_message"]
    assert decided(reply_chain).place.thread is None  # type: ignore[attr-defined]


def test_presses_the_bot_cannot_trust_are_refused_with_a_reason() -> None:
    data = fixture("telegram-callback-update.json")
    for bad in ["x" * 65, "a b", "{'run': 1}", ""]:
        data["callback_query"]["data"] = bad
        refused = decided(data)
        assert isinstance(refused, Refused) and refused.reply_to.query_id, bad
    data["callback_query"]["data"] = "key"
    assert isinstance(decided(data, allowed=frozenset()), Refused)
    inline = copy.deepcopy(data)
    del inline["callback_query"]["message"]
    inline["callback_query"]["inline_message_id"] = "AAA"
    assert isinstance(decided(inline), Refused)


def test_edits_and_other_updates_ask_nothing() -> None:
    edited = command("/playbook list")
    edited["edited_message"] = edited.pop("message")
    assert decided(edited) is None
    post = command("/playbook list")
    post["channel_post"] = post.pop("message")
    assert decided(post) is None
