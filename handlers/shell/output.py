"""The console surface's Chat: keeps a transcript and prints it as it grows."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.chat import Button, ButtonPress, Card, Invocation, MessageRef, Place, Report
from handlers.shell.render import render_buttons, render_card, render_card_update, render_report

__all__ = ["SURFACE", "ShellChat", "ShellMessage"]

SURFACE = "shell"


@dataclass
class ShellMessage:
    """One thing the bot said in the console."""

    id: str
    kind: str  # card | thread | message | report | private | reply
    channel: str
    text: str
    card: Card | None = None
    report: Report | None = None
    thread_of: str | None = None
    buttons: list[Button] = field(default_factory=list)
    to_user: str | None = None
    edits: int = 0


class ShellChat:
    """A Chat whose channels are in-memory; ``write`` receives each line to show."""

    surface = SURFACE

    def __init__(self, write: Callable[[str], None] = print) -> None:
        self._write = write
        self._ids = itertools.count(1)
        self._session = secrets.token_hex(3)
        self.messages: list[ShellMessage] = []
        self.by_id: dict[str, ShellMessage] = {}

    def _next_id(self) -> str:
        # Unique across console processes sharing a store: a card posted by an earlier
        # process must never be mistaken for one of ours.
        return f"{self._session}.{next(self._ids)}"

    def _add(self, message: ShellMessage, lines: list[str]) -> MessageRef:
        self.messages.append(message)
        self.by_id[message.id] = message
        for line in lines:
            self._write(line)
        return MessageRef(SURFACE, message.channel, message.id, message.thread_of)

    async def post_card(self, place: Place, card: Card) -> MessageRef:
        message = ShellMessage(
            self._next_id(), "card", place.channel, card.text(), card, buttons=card.buttons
        )
        return self._add(message, render_card(card))

    async def update_card(self, ref: MessageRef, card: Card) -> None:
        message = self.by_id.get(ref.message_id)
        if message is None:
            # Posted by an earlier console process: shown afresh once, and from then on the
            # new one stands for it (its edits and thread replies go to the one on screen).
            posted = await self.post_card(Place(SURFACE, ref.channel), card)
            self.by_id[ref.message_id] = self.by_id[posted.message_id]
            return
        if message.card == card:
            return  # nothing visible changed
        message.card, message.text, message.buttons = card, card.text(), card.buttons
        message.edits += 1
        self._write(render_card_update(card))

    async def post_in_thread(
        self, ref: MessageRef, text: str, buttons: list[Button] | None = None
    ) -> MessageRef:
        parent = self.by_id.get(ref.message_id)
        thread_of = parent.id if parent is not None else ref.message_id
        run = self._run_of(thread_of)
        message = ShellMessage(
            self._next_id(),
            "thread",
            ref.channel,
            text,
            thread_of=thread_of,
            buttons=list(buttons or []),
        )
        return self._add(message, _thread_lines("↳", run, text, buttons))

    async def post_progress(self, ref: MessageRef, text: str) -> None:
        await self.post_in_thread(ref, text)

    async def update_message(
        self, ref: MessageRef, text: str, buttons: list[Button] | None = None
    ) -> None:
        message = self.by_id.get(ref.message_id)
        if message is None:  # posted by an earlier console process: shown afresh once
            posted = await self.post_in_thread(
                MessageRef(SURFACE, ref.channel, ref.thread or ref.message_id), text, buttons
            )
            self.by_id[ref.message_id] = self.by_id[posted.message_id]
            return
        message.text, message.buttons = text, list(buttons or [])
        message.edits += 1
        for line in _thread_lines("↻", self._run_of(message.thread_of), text, buttons):
            self._write(line)

    def _run_of(self, card_id: str | None) -> str:
        """How a thread line names its card: the run, or (a card this console never saw)
        the message."""
        parent = self.by_id.get(card_id or "")
        if parent is not None and parent.card is not None and parent.card.run_id:
            return f"#{parent.card.run_id}"
        return f"message {card_id}"

    async def post_message(self, place: Place, text: str) -> MessageRef:
        message = ShellMessage(self._next_id(), "message", place.channel, text)
        return self._add(message, [f"[#{place.name or place.channel}] {text}"])

    async def post_report(self, place: Place, report: Report) -> MessageRef:
        lines = render_report(report)
        message = ShellMessage(
            self._next_id(),
            "report",
            place.channel,
            "\n".join(lines),
            report=report,
            buttons=list(report.buttons),
        )
        return self._add(message, [f"[#{place.name or place.channel}]", *lines])

    async def reply_private(self, to: Invocation | ButtonPress, text: str) -> None:
        message = ShellMessage(
            self._next_id(), "private", to.place.channel, text, to_user=to.actor.id
        )
        first, *rest = text.split("\n")
        self._add(message, [f"🔒 (to {to.actor.id}) {first}", *(f"   {line}" for line in rest)])

    def mention(self, identity: str) -> str:
        return f"@{identity}"

    async def reply(self, to: Invocation | ButtonPress, text: str) -> None:
        message = ShellMessage(self._next_id(), "reply", to.place.channel, text)
        self._add(message, text.split("\n"))


def _thread_lines(mark: str, run: str, text: str, buttons: list[Button] | None) -> list[str]:
    """A thread reply as printed: every line of it (a step's output) under its marker."""
    first, *rest = text.split("\n")
    lines = [f"  {mark} [{run}] {first}", *(f"      {line}" for line in rest)]
    if buttons:
        lines.append(f"      {render_buttons(buttons)}")
    return lines
