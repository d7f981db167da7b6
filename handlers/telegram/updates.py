"""What an update from Telegram asks of the bot, decided without I/O (PTB's ``check_update``).

:func:`decide` reads an :class:`telegram.Update` into one of:

- :class:`Typed` — ``/playbook …`` or ``/schedule …`` (also ``/playbook@thisbot``) typed in a
  chat the bot serves, by a person;
- :class:`Clicked` — a press on an inline button, carrying only the button's key;
- :class:`Replied` — a reply to one of the bot's own messages (the answer to a question it
  asked, such as why a run is denied);
- :class:`Refused` — something the bot must answer but not do (a chat it does not serve,
  someone it cannot identify): the text to answer with, once;
- ``None`` — nothing for the bot (another bot's command, chatter, edits, other updates).

Forum supergroups: a message in a topic keeps its topic (``message_thread_id``), so every
answer goes back there. Everything else in an update is treated as hostile: fields are
read defensively, and a click's data is only ever a key to look up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import Chat, MaybeInaccessibleMessage, Message, MessageEntity, Update, User

from bot.chat import Actor, Place

__all__ = [
    "COMMANDS",
    "SURFACE",
    "Clicked",
    "Decision",
    "Me",
    "Refused",
    "Replied",
    "ReplyTo",
    "Typed",
    "decide",
]

SURFACE = "telegram"
COMMANDS = ("playbook", "schedule")
# Telegram's stand-ins for people it hides: an anonymous group admin, a linked channel.
_ANONYMOUS_ADMIN = 1087968824
_CHANNEL_BOT = 136817688
_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)

NOT_SERVED = (
    "Sorry, I don't serve this chat, so nothing was done. To use me here, an admin adds its ID "
    "`{chat}` to `telegram.allowed_chats` in my config."
)
NOT_SERVED_BUTTON = "I don't serve this chat, so that button does nothing here."
ANONYMOUS = (
    "I can't tell who you are: you are posting as the group or a channel, and my roles name "
    "people. Turn off “Remain anonymous” in your admin rights to use me."
)
NOT_MY_BUTTON = "That is not one of my buttons, so nothing was done."


@dataclass(frozen=True)
class Me:
    """Who the bot is, as getMe said."""

    id: int
    username: str


@dataclass
class ReplyTo:
    """How to answer whoever acted: in their chat and topic, under ``message_id`` (their
    command, or the message whose button they pressed); a press is also answered with
    answerCallbackQuery, exactly once (``answered``)."""

    chat_id: int
    thread_id: int | None
    message_id: int | None
    query_id: str | None = None
    answered: bool = False


@dataclass(frozen=True)
class Typed:
    update_id: int
    actor: Actor
    place: Place
    reply_to: ReplyTo
    command: str  # "/playbook" or "/schedule"
    arguments: str


@dataclass(frozen=True)
class Clicked:
    update_id: int
    actor: Actor
    place: Place
    reply_to: ReplyTo
    key: str
    message_id: int  # the message the button is on


@dataclass(frozen=True)
class Replied:
    update_id: int
    actor: Actor
    place: Place
    reply_to: ReplyTo
    question: int  # the bot's message it replies to
    text: str


@dataclass(frozen=True)
class Refused:
    update_id: int
    reply_to: ReplyTo
    text: str
    reason: str  # for the log


Decision = Typed | Clicked | Replied | Refused


def decide(update: Update, me: Me, allowed_chats: frozenset[int]) -> Decision | None:
    """What ``update`` asks of the bot (see the module docstring). Pure."""
    if update.callback_query is not None:
        query = update.callback_query
        return _click(
            update.update_id,
            query.id,
            query.from_user,
            query.message,
            query.data,
            me,
            allowed_chats,
        )
    if update.message is not None:
        return _message(update.update_id, update.message, me, allowed_chats)
    return None


def _message(update_id: int, message: Message, me: Me, allowed: frozenset[int]) -> Decision | None:
    text = message.text
    if not text:
        return None
    command = _command(message, text, me)
    if command is None:
        return _reply(update_id, message, text, me, allowed)
    name, arguments = command
    reply_to = ReplyTo(message.chat.id, _topic(message), message.message_id)
    if message.chat.id not in allowed:
        return Refused(
            update_id, reply_to, NOT_SERVED.format(chat=message.chat.id), "chat not served"
        )
    person = message.from_user
    if person is None or person.is_bot:
        if person is not None and person.id not in (_ANONYMOUS_ADMIN, _CHANNEL_BOT):
            return None  # another bot: bots never command this one
        return Refused(update_id, reply_to, ANONYMOUS, "sender is anonymous")
    return Typed(
        update_id, _actor(person), _place(message), reply_to, f"/{name}", arguments.strip()
    )


def _command(message: Message, text: str, me: Me) -> tuple[str, str] | None:
    """``(name, arguments)`` when the text starts with one of our commands, for this bot."""
    first: MessageEntity | None = message.entities[0] if message.entities else None
    if first is None or first.type != MessageEntity.BOT_COMMAND or first.offset != 0:
        return None
    word = text[: first.length]  # commands are ASCII: UTF-16 units are characters
    name, _, addressed = word.removeprefix("/").partition("@")
    if addressed and addressed.lower() != me.username.lower():
        return None  # /playbook@otherbot
    if name.lower() not in COMMANDS:
        return None
    return name.lower(), text[first.length :]


def _reply(
    update_id: int, message: Message, text: str, me: Me, allowed: frozenset[int]
) -> Replied | None:
    """A reply to one of the bot's messages, in a chat it serves, by a person."""
    replied = message.reply_to_message
    person = message.from_user
    if replied is None or replied.from_user is None or replied.from_user.id != me.id:
        return None
    if message.chat.id not in allowed or person is None or person.is_bot:
        return None
    reply_to = ReplyTo(message.chat.id, _topic(message), message.message_id)
    return Replied(update_id, _actor(person), _place(message), reply_to, replied.message_id, text)


def _click(
    update_id: int,
    query_id: str,
    person: User,
    message: MaybeInaccessibleMessage | None,
    data: str | None,
    me: Me,
    allowed: frozenset[int],
) -> Decision | None:
    if message is None:
        # A button on an inline message: the bot never sends those.
        reply_to = ReplyTo(person.id, None, None, query_id)
        return Refused(update_id, reply_to, NOT_MY_BUTTON, "button without a message")
    thread = _topic(message) if isinstance(message, Message) else None
    reply_to = ReplyTo(message.chat.id, thread, message.message_id, query_id)
    if message.chat.id not in allowed:
        return Refused(update_id, reply_to, NOT_SERVED_BUTTON, "chat not served")
    if person.is_bot:
        return Refused(update_id, reply_to, ANONYMOUS, "presser is a bot")
    if data is None or not _KEY.fullmatch(data):
        return Refused(update_id, reply_to, NOT_MY_BUTTON, "callback data is not a key")
    place = Place(SURFACE, str(message.chat.id), _str(thread), _chat_name(message.chat))
    return Clicked(update_id, _actor(person), place, reply_to, data, message.message_id)


def _topic(message: Message) -> int | None:
    """The forum topic a message is in (None outside topics: General, or not a forum)."""
    if message.message_thread_id is None:
        return None
    if message.is_topic_message or message.chat.is_forum:
        return message.message_thread_id
    return None  # a reply chain in a plain group: not a place of its own


def _place(message: Message) -> Place:
    return Place(SURFACE, str(message.chat.id), _str(_topic(message)), _chat_name(message.chat))


def _actor(person: User) -> Actor:
    return Actor(SURFACE, str(person.id), person.username or person.full_name or str(person.id))


def _chat_name(chat: Chat) -> str:
    return chat.title or chat.username or chat.full_name or ""


def _str(value: int | None) -> str | None:
    return None if value is None else str(value)
