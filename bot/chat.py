"""The platform-neutral chat model: actors, places, cards and buttons, and the Chat port.

Surfaces (Slack, Telegram, the console) implement :class:`Chat` and turn their payloads into
:class:`Invocation` and :class:`ButtonPress`; the core never sees a platform type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

__all__ = [
    "Actor",
    "Button",
    "ButtonAction",
    "ButtonPress",
    "Card",
    "CardField",
    "Chat",
    "Invocation",
    "MessageRef",
    "Place",
    "Report",
    "ReportLine",
    "ReportSection",
]


@dataclass(frozen=True)
class Actor:
    """Someone acting through a surface: ``id`` is the platform's user id."""

    surface: str
    id: str
    name: str = ""
    groups: tuple[str, ...] = ()
    schedule: str | None = None  # the schedule this actor stands for; None: a person

    @classmethod
    def for_schedule(cls, surface: str, schedule_id: str) -> Actor:
        """The requester of what a schedule starts: shown as ``schedule `ID```."""
        return cls(surface, f"schedule:{schedule_id}", f"schedule `{schedule_id}`", (), schedule_id)

    @property
    def key(self) -> str:
        """A stable identity across the store: ``slack:U0ALICE``."""
        return f"{self.surface}:{self.id}"

    @property
    def display(self) -> str:
        return self.name or self.id


@dataclass(frozen=True)
class Place:
    """A channel (or chat) on a surface, optionally a thread or topic inside it."""

    surface: str
    channel: str
    thread: str | None = None
    name: str = ""


@dataclass(frozen=True)
class MessageRef:
    """A message the bot posted, so it can be edited or replied to in its thread."""

    surface: str
    channel: str
    message_id: str
    thread: str | None = None

    def encode(self) -> str:
        return "|".join([self.surface, self.channel, self.message_id, self.thread or ""])

    @classmethod
    def decode(cls, text: str) -> MessageRef:
        surface, channel, message_id, thread = text.split("|", 3)
        return cls(surface, channel, message_id, thread or None)


class ButtonAction(StrEnum):
    RUN = "run"
    CANCEL = "cancel"
    APPROVE = "approve"
    DENY = "deny"
    RESUME = "resume"
    ABORT = "abort"
    # Opens the run card of a playbook an alert suggests, requested by whoever presses it.
    # Its button's ``run_id`` is the suggestion's reference (an alert rule's), not a run.
    START = "start"

    @property
    def label(self) -> str:
        """The button's label, exactly as the chat grammar contract names it."""
        return self.value.capitalize()


@dataclass(frozen=True)
class Button:
    action: ButtonAction
    run_id: int
    step: str | None = None
    style: str = "default"  # default | primary | danger
    confirm: str | None = None  # a question to confirm before the click counts

    @property
    def label(self) -> str:
        return self.action.label


@dataclass(frozen=True)
class CardField:
    label: str
    value: str


@dataclass(frozen=True)
class Card:
    """A run card: the message posted for a run and edited in place as it moves on."""

    title: str
    status: str
    status_emoji: str
    fields: list[CardField] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    run_id: int | None = None

    def text(self) -> str:
        """A plain-text fallback (notifications, screen readers)."""
        return f"{self.title} — {self.status}"


@dataclass(frozen=True)
class ReportLine:
    """One line of a report; ``link`` is a posted message (a run card) it points at."""

    text: str
    link: MessageRef | None = None


@dataclass(frozen=True)
class ReportSection:
    """A titled part of a report: short fields shown side by side where the surface can,
    then lines."""

    title: str
    fields: list[CardField] = field(default_factory=list)
    lines: list[ReportLine] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    """A message read at a glance (a digest, an alert): posted once, never edited."""

    title: str
    summary: str = ""
    sections: list[ReportSection] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    footer: str = ""

    def text(self) -> str:
        """A plain-text fallback (notifications, screen readers)."""
        return f"{self.title} — {self.summary}" if self.summary else self.title


@dataclass(frozen=True)
class Invocation:
    """A command someone typed; ``reply_handle`` is the surface's own way to answer them."""

    actor: Actor
    place: Place
    text: str
    reply_handle: Any = None


@dataclass(frozen=True)
class ButtonPress:
    """A click on one of the bot's buttons."""

    actor: Actor
    place: Place
    button: Button
    message: MessageRef | None = None
    reply_handle: Any = None
    reason: str = ""  # why, when a surface lets the clicker say (a Deny with a reason)


class Chat(Protocol):
    """What a surface does for the core. Every method may raise; the core logs and moves on."""

    surface: str

    async def post_card(self, place: Place, card: Card) -> MessageRef:
        """Post a new card in a channel; returns its reference."""
        ...

    async def update_card(self, ref: MessageRef, card: Card) -> None:
        """Edit a posted card in place."""
        ...

    async def post_in_thread(
        self, ref: MessageRef, text: str, buttons: list[Button] | None = None
    ) -> MessageRef:
        """Reply in the thread of a posted message (progress, approval requests)."""
        ...

    async def post_progress(self, ref: MessageRef, text: str) -> None:
        """Reply in the thread of ``ref`` with a line nobody answers or edits (a step's
        progress). A surface that must pace its posts may send it after this returns, joined
        with the lines after it; its own messages in that thread still come after it."""
        ...

    async def update_message(
        self, ref: MessageRef, text: str, buttons: list[Button] | None = None
    ) -> None:
        """Edit a posted message (not a card): its new text, and its buttons (none if None)."""
        ...

    async def post_message(self, place: Place, text: str) -> MessageRef:
        """Post plain text to a channel (notify steps)."""
        ...

    async def post_report(self, place: Place, report: Report) -> MessageRef:
        """Post a report to a channel (a digest, an alert), laid out for this surface; a
        line's ``link`` is shown as a link to that message's thread where the surface can."""
        ...

    async def reply_private(self, to: Invocation | ButtonPress, text: str) -> None:
        """Answer only the person who typed or clicked (ephemeral where the surface has it)."""
        ...

    async def reply(self, to: Invocation | ButtonPress, text: str) -> None:
        """Answer in the place where they typed, visible to everyone there."""
        ...

    def mention(self, identity: str) -> str:
        """Text that notifies ``identity`` (a user or group id of this surface)."""
        ...
