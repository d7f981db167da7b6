"""Callback tokens: a button's short key, resolved in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from bot.chat import Actor, Button, ButtonAction, Place
from bot.db.callback_tokens import TOKEN_CHARS, Answer, CallbackTokens
from bot.db.store import Store

ALICE = Actor("telegram", "111", "alice")
CHAT = "-1001234567890"
SECRET = b"a secret every replica holds"


async def new_run(store: Store) -> int:
    run = await store.create_run(
        playbook="clear-cache", params={}, actor=ALICE, place=Place("telegram", CHAT)
    )
    return run.id


async def test_a_button_keeps_one_short_key_that_resolves_to_it_and_its_chat(
    store: Store,
) -> None:
    tokens = CallbackTokens(store.engine, SECRET)
    run = await new_run(store)
    run_button = Button(ButtonAction.RUN, run, style="primary", confirm="Run it?")
    gate = Button(ButtonAction.APPROVE, run, step="restart")

    first = await tokens.record("telegram", CHAT, [run_button, gate])
    again = await tokens.record("telegram", CHAT, [gate, Button(ButtonAction.CANCEL, run)])
    # Another replica renders the same buttons: the same keys, recorded once.
    replica = CallbackTokens(store.engine, SECRET)
    elsewhere = await replica.record("telegram", CHAT, [run_button, gate])
    await replica.close()

    assert again[0] == first[1]  # the card edited in place keeps its keys
    assert elsewhere == first
    assert len({*first, *again}) == 3
    assert (
        CallbackTokens(store.engine, b"another secret").token("telegram", CHAT, gate) != (first[1])
    )
    assert all(len(token.encode()) == TOKEN_CHARS <= 64 for token in first + again)
    resolved = await tokens.resolve("telegram", first[1])
    assert resolved is not None
    assert (resolved.button, resolved.chat) == (Button(ButtonAction.APPROVE, run, "restart"), CHAT)
    plain = await tokens.resolve("telegram", first[0])
    assert plain is not None and plain.button == Button(ButtonAction.RUN, run)


async def test_a_key_the_bot_never_made_resolves_to_nothing(store: Store) -> None:
    tokens = CallbackTokens(store.engine, SECRET)
    run = await new_run(store)
    [made] = await tokens.record("telegram", CHAT, [Button(ButtonAction.RUN, run)])

    assert await tokens.resolve("telegram", made[:-1] + ("A" if made[-1] != "A" else "B")) is None
    assert await tokens.resolve("slack", made) is None
    assert await tokens.resolve("telegram", "x" * 5000) is None


async def test_the_same_button_in_another_chat_has_its_own_key(store: Store) -> None:
    tokens = CallbackTokens(store.engine, SECRET)
    run = await new_run(store)
    button = Button(ButtonAction.CANCEL, run)
    [here] = await tokens.record("telegram", CHAT, [button])
    [there] = await tokens.record("telegram", "42", [button])
    assert here != there
    resolved = await tokens.resolve("telegram", there)
    assert resolved is not None and resolved.chat == "42"


async def test_a_question_is_answered_once_and_only_by_whom_it_asked(store: Store) -> None:
    tokens = CallbackTokens(store.engine, SECRET)
    run = await new_run(store)
    deny = Button(ButtonAction.DENY, run)
    await tokens.ask("telegram", f"reply:{CHAT}:77", CHAT, deny, asked="telegram:222")

    assert await tokens.resolve("telegram", f"reply:{CHAT}:77") is None  # not a button
    assert await tokens.answer("telegram", f"reply:{CHAT}:77", "telegram:333") == (
        Answer.NOT_YOURS,
        None,
    )
    answers = await asyncio.gather(
        tokens.answer("telegram", f"reply:{CHAT}:77", "telegram:222"),
        tokens.answer("telegram", f"reply:{CHAT}:77", "telegram:222"),
    )
    assert sorted(answers, key=lambda a: a[0]) == [(Answer.ACCEPTED, deny), (Answer.NONE, None)]
    assert await tokens.answer("telegram", f"reply:{CHAT}:78", "telegram:222") == (
        Answer.NONE,
        None,
    )
