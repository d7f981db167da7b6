"""The order updates are handled in: one person's presses alone and in order, their commands
side by side, other people's updates beside theirs."""

from __future__ import annotations

import asyncio
from typing import Any

from telegram import Update

from handlers.telegram.handler import InOrderPerPerson

USER = {"is_bot": False, "first_name": "A"}
CHAT = {"id": -100, "type": "supergroup", "title": "ops"}


def command(update_id: int, user: int) -> Update:
    message = {
        "message_id": update_id,
        "date": 1,
        "chat": CHAT,
        "text": "/playbook list",
        "from": {**USER, "id": user},
    }
    return Update.de_json({"update_id": update_id, "message": message}, None)


def press(update_id: int, user: int) -> Update:
    message = {"message_id": 1, "date": 1, "chat": CHAT, "text": "card"}
    query = {
        "id": str(update_id),
        "from": {**USER, "id": user},
        "message": message,
        "chat_instance": "1",
        "data": "key",
    }
    return Update.de_json({"update_id": update_id, "callback_query": query}, None)


class Journal:
    """Work that records when it starts and ends, and ends when told."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}

    async def work(self, name: str) -> None:
        self.events.append(f"start {name}")
        await self.gates.setdefault(name, asyncio.Event()).wait()
        self.events.append(f"end {name}")

    def finish(self, name: str) -> None:
        self.gates.setdefault(name, asyncio.Event()).set()


async def run_all(processor: InOrderPerPerson, journal: Journal, updates: list[Any]) -> list[Any]:
    tasks = [
        asyncio.create_task(processor.process_update(update, journal.work(name)))
        for name, update in updates
    ]
    for _ in range(5):
        await asyncio.sleep(0)
    return tasks


async def test_one_persons_presses_are_handled_one_after_another_in_order() -> None:
    journal, processor = Journal(), InOrderPerPerson()
    tasks = await run_all(
        processor,
        journal,
        [("run", press(1, 7)), ("cancel", press(2, 7)), ("typed", command(3, 7))],
    )
    assert journal.events == ["start run"]
    journal.finish("run")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert journal.events == ["start run", "end run", "start cancel"]
    journal.finish("cancel")
    journal.finish("typed")
    await asyncio.gather(*tasks)
    assert journal.events[-2:] == ["start typed", "end typed"]  # after the press before it


async def test_one_persons_commands_run_side_by_side_and_others_are_not_held_up() -> None:
    journal, processor = Journal(), InOrderPerPerson()
    tasks = await run_all(
        processor,
        journal,
        [("first", command(1, 7)), ("second", command(2, 7)), ("bobs", press(3, 8))],
    )
    assert journal.events == ["start first", "start second", "start bobs"]
    for name in ("first", "second", "bobs"):
        journal.finish(name)
    await asyncio.gather(*tasks)
