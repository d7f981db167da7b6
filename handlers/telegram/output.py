"""The Chat port over the Bot API: cards as HTML messages with inline keyboards.

A run's card is a message in the chat (in its forum topic, if any); progress and approval
requests are replies to it in that topic; the card is edited in place with
``editMessageText``, paced per chat (:mod:`handlers.telegram.edits`). Telegram has no
message only one person sees: a private answer to a button press is the press's own
answer (an alert), and to a command a reply to the command.

Calls that fail for a reason that passes (Telegram unreachable, rate limited beyond the
retries) raise, so the core tries again later; an edit Telegram refuses for good (the
message was deleted) is logged and given up, and "message is not modified" is success.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import structlog
from telegram import (
    Bot,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.chat import Actor, Button, ButtonPress, Card, Invocation, MessageRef, Place, Report
from handlers.telegram.edits import CardEdits
from handlers.telegram.keys import ButtonKeys
from handlers.telegram.progress_posts import Line, ProgressPosts
from handlers.telegram.render import (
    Keyboard,
    Rendered,
    card_html,
    keyboard,
    report_html,
    unique_buttons,
)
from handlers.telegram.text import MAX_ALERT, cut, fit, mention, plain, split
from handlers.telegram.updates import SURFACE, ReplyTo

__all__ = ["TelegramChat", "is_transient"]

log = structlog.get_logger(__name__)

_NAMES_KEPT = 10_000
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed call may work when tried again: Telegram unreachable or slow, or a
    rate limit; not a request it refused (400, 403), which fails the same way again."""
    if isinstance(exc, BadRequest | Forbidden):
        return False
    return isinstance(exc, NetworkError | RetryAfter | TimeoutError | OSError)


def _not_modified(exc: TelegramError) -> bool:
    return isinstance(exc, BadRequest) and "not modified" in exc.message.lower()


class TelegramChat:
    """Renders the core's cards and texts to one bot's chats."""

    surface = SURFACE

    def __init__(
        self,
        bot: Bot,
        keys: ButtonKeys,
        *,
        edit_burst: int | None = None,  # None: the pacers' own defaults
        edits_per_minute: float | None = None,
        post_burst: int | None = None,
        posts_per_minute: float | None = None,
    ) -> None:
        self.bot = bot
        self.keys = keys
        self.edits: CardEdits[Rendered] = CardEdits(
            self._edit,
            burst=edit_burst,
            per_minute=edits_per_minute,
            is_transient=is_transient,
        )
        self.progress = ProgressPosts(
            self._send_progress,
            burst=post_burst,
            per_minute=posts_per_minute,
            is_transient=is_transient,
        )
        self._names: OrderedDict[str, str] = OrderedDict()  # user id -> name, as last seen

    def learn(self, actor: Actor) -> None:
        """Remember how someone is called, so a mention of them reads as their name."""
        self._names[actor.id] = actor.name
        self._names.move_to_end(actor.id)
        if len(self._names) > _NAMES_KEPT:
            self._names.popitem(last=False)

    # -- cards --------------------------------------------------------------------------

    async def post_card(self, place: Place, card: Card) -> MessageRef:
        buttons = unique_buttons(card.buttons)
        keys = keyboard(buttons, self.keys.keys(place.channel, buttons))
        # The keys are recorded while the card is on its way: nobody can press a button
        # before Telegram has shown it, and a new run's card is the command's answer.
        _, sent = await asyncio.gather(
            self.keys.record(place.channel, buttons),
            self._send(place.channel, place.thread, card_html(card), keys=keys),
        )
        return MessageRef(SURFACE, str(sent.chat.id), str(sent.message_id), place.thread)

    async def update_card(self, ref: MessageRef, card: Card) -> None:
        keys = await self._keyboard(ref.channel, card.buttons)
        await self.edits.edit(ref.channel, ref.message_id, Rendered(card_html(card), keys))

    # -- messages -----------------------------------------------------------------------

    async def post_in_thread(
        self, ref: MessageRef, text: str, buttons: list[Button] | None = None
    ) -> MessageRef:
        await self.progress.before(ref.channel, ref.message_id)
        markup = await self._keyboard(ref.channel, buttons)
        sent = await self._send(
            ref.channel, ref.thread, fit(text), reply_to=ref.message_id, keys=markup
        )
        return MessageRef(SURFACE, ref.channel, str(sent.message_id), ref.thread)

    async def post_progress(self, ref: MessageRef, text: str) -> None:
        """Paced per chat: beyond the chat's budget, lines replying to the same card go
        together as one message (:mod:`handlers.telegram.progress_posts`)."""
        await self.progress.post(ref.channel, Line(ref.thread, ref.message_id, fit(text)))

    async def update_message(
        self, ref: MessageRef, text: str, buttons: list[Button] | None = None
    ) -> None:
        markup = await self._keyboard(ref.channel, buttons)
        await self._edit(ref.channel, ref.message_id, Rendered(fit(text), markup), paced=False)

    async def post_report(self, place: Place, report: Report) -> MessageRef:
        """A digest or an alert, with its buttons (an alert's Start) as an inline keyboard."""
        keys = await self._keyboard(place.channel, report.buttons)
        sent = await self._send(place.channel, place.thread, report_html(report), keys=keys)
        return MessageRef(SURFACE, str(sent.chat.id), str(sent.message_id), place.thread)

    async def post_message(self, place: Place, text: str) -> MessageRef:
        sent = await self._send(place.channel, place.thread, fit(text))
        return MessageRef(SURFACE, str(sent.chat.id), str(sent.message_id), place.thread)

    async def reply_private(self, to: Invocation | ButtonPress, text: str) -> None:
        """A press is answered with an alert only its presser sees (once; after that, and
        for a command, with a reply in the chat)."""
        reply_to = _reply_to(to)
        if reply_to.query_id is not None and not reply_to.answered:
            reply_to.answered = True
            await self.bot.answer_callback_query(
                reply_to.query_id, text=cut(plain(text), MAX_ALERT), show_alert=True
            )
            return
        if isinstance(to, ButtonPress):
            text = f"{self.mention(to.actor.id)}: {text}"
        await self.say(reply_to, text)

    async def reply(self, to: Invocation | ButtonPress, text: str) -> None:
        await self.say(_reply_to(to), text)

    def mention(self, identity: str) -> str:
        return mention(identity, self._names.get(identity, ""))

    # -- what the inbound side uses -------------------------------------------------------

    async def answer(self, reply_to: ReplyTo, text: str = "", *, alert: bool = False) -> None:
        """Answer a press (stops its spinner) unless it was answered already."""
        if reply_to.query_id is None or reply_to.answered:
            return
        reply_to.answered = True
        await self.bot.answer_callback_query(
            reply_to.query_id,
            text=cut(plain(text), MAX_ALERT) if text else None,
            show_alert=True if alert else None,
        )

    async def ask(self, reply_to: ReplyTo, text: str, placeholder: str) -> int:
        """Ask a question only the person mentioned in ``text`` is prompted to answer (a
        reply to the message ``reply_to`` names); returns the question's message id."""
        sent = await self.bot.send_message(
            chat_id=reply_to.chat_id,
            message_thread_id=reply_to.thread_id,
            text=fit(text),
            parse_mode=ParseMode.HTML,
            reply_parameters=_reply_parameters(reply_to),
            reply_markup=ForceReply(selective=True, input_field_placeholder=placeholder[:64]),
        )
        return sent.message_id

    async def close(self) -> None:
        """Send the progress and make the card edits still waiting for their chat's budget,
        before stopping."""
        await self.progress.close()
        await self.edits.close()

    # -- helpers ------------------------------------------------------------------------

    async def say(self, reply_to: ReplyTo, text: str) -> None:
        """Reply in the chat (and topic) of ``reply_to``, under its message; a long text
        goes in several messages."""
        for part in split(text):
            await self.bot.send_message(
                chat_id=reply_to.chat_id,
                message_thread_id=reply_to.thread_id,
                text=part,
                parse_mode=ParseMode.HTML,
                reply_parameters=_reply_parameters(reply_to),
                link_preview_options=_NO_PREVIEW,
            )

    async def _send_progress(self, chat: str, thread: str | None, reply_to: str, html: str) -> None:
        await self._send(chat, thread, html, reply_to=reply_to)

    async def _send(
        self,
        chat: str,
        thread: str | None,
        html: str,
        *,
        reply_to: str | None = None,
        keys: Keyboard = (),
    ) -> Message:
        """One HTML message to ``chat`` (in its topic ``thread``), as a reply to message
        ``reply_to`` if given, with ``keys`` as its inline keyboard; links not previewed."""
        return await self.bot.send_message(
            chat_id=int(chat),
            message_thread_id=_int(thread),
            text=html,
            parse_mode=ParseMode.HTML,
            reply_parameters=(
                None
                if reply_to is None
                else ReplyParameters(int(reply_to), allow_sending_without_reply=True)
            ),
            reply_markup=_markup(keys),
            link_preview_options=_NO_PREVIEW,
        )

    async def _keyboard(self, chat: str, buttons: Sequence[Button] | None) -> Keyboard:
        """The keyboard of ``buttons``, their keys recorded first."""
        unique = unique_buttons(buttons or [])
        await self.keys.record(chat, unique)
        return keyboard(unique, self.keys.keys(chat, unique))

    async def _edit(
        self, chat: str, message_id: str, rendered: Rendered, *, paced: bool = True
    ) -> None:
        """One editMessageText: without a keyboard, the message's buttons go."""
        try:
            await self.bot.edit_message_text(
                chat_id=int(chat),
                message_id=int(message_id),
                text=rendered.html,
                parse_mode=ParseMode.HTML,
                reply_markup=_markup(rendered.keyboard),
                link_preview_options=_NO_PREVIEW,
            )
        except TelegramError as exc:
            if _not_modified(exc):
                return
            if is_transient(exc):
                raise
            # Refused for good (deleted, not ours any more): trying again would only fail.
            log.warning(
                "telegram_edit_refused", chat=chat, message=message_id, error=str(exc), paced=paced
            )


def _markup(rows: Keyboard) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=key) for label, key in row] for row in rows]
    )


def _reply_parameters(reply_to: ReplyTo) -> ReplyParameters | None:
    if reply_to.message_id is None:
        return None
    return ReplyParameters(reply_to.message_id, allow_sending_without_reply=True)


def _reply_to(origin: Invocation | ButtonPress) -> ReplyTo:
    handle: Any = origin.reply_handle
    if isinstance(handle, ReplyTo):
        return handle
    # Not from this surface's inbound side (the core answering on its own): the place.
    place = origin.place
    return ReplyTo(int(place.channel), _int(place.thread), None)


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)
