"""What a decided update does (PTB's ``handle_update``): the I/O behind :func:`decide`.

Each update is acted on once, whichever replica (or retry) sees it again: its
``update_id`` is recorded in the store first. Then a command goes to the core (or is
answered with its usage, when required params are missing); a press is resolved from its
key and goes to the core, and is always answered (an alert says why nothing happened);
a Deny asks why first, with a reply prompt, and the reply completes it.

The rules (who may start, approve, deny, cancel) are the core's: this only translates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from sqlalchemy.exc import SQLAlchemyError
from telegram.error import TelegramError

from bot.chat import Actor, Button, ButtonAction, ButtonPress, Invocation, MessageRef
from bot.commands import StartRun
from bot.db.callback_tokens import Answer, CallbackTokens
from bot.lifecycle import RunStatus
from bot.policy import may_decide
from bot.run_lookup import not_now
from bot.service import DATABASE_DOWN, ChatOpsService
from handlers.grammar import GrammarError, parse_command
from handlers.telegram.keys import ButtonKeys
from handlers.telegram.output import TelegramChat
from handlers.telegram.render import missing_params
from handlers.telegram.updates import (
    SURFACE,
    Clicked,
    Decision,
    Refused,
    Replied,
    ReplyTo,
    Typed,
)
from playbooks.model import ApprovalPolicy
from playbooks.params import missing_required

__all__ = ["ANSWER_WITHIN", "TelegramInbound"]

log = structlog.get_logger(__name__)

ANSWER_WITHIN = 2.0
"""Seconds a press waits for the core before its spinner is stopped without a word (a
refusal after that comes as a reply in the chat)."""
NO_REASON = "-"
NOT_MINE = "That button is not one of mine, or no longer works, so nothing was done."
ELSEWHERE = "That button belongs to another chat, so nothing was done."
NOT_YOURS = "That question was for someone else. To deny, press Deny yourself."


class TelegramInbound:
    """Acts on decisions; one per surface."""

    def __init__(
        self,
        service: ChatOpsService,
        chat: TelegramChat,
        keys: ButtonKeys,
        tokens: CallbackTokens,
        *,
        bot_id: Callable[[], int],
        answer_within: float = ANSWER_WITHIN,
    ) -> None:
        self.service = service
        self.chat = chat
        self.keys = keys
        self.tokens = tokens
        self._bot_id = bot_id
        self.answer_within = answer_within

    async def act(self, decision: Decision) -> None:
        """Do what ``decision`` asks, once per update."""
        if not isinstance(decision, Refused):
            self.chat.learn(decision.actor)
        if not await self._first_delivery(decision):
            return
        match decision:
            case Refused():
                log.info("telegram_refused", reason=decision.reason, chat=decision.reply_to.chat_id)
                await self._say(decision.reply_to, decision.text, alert=True)
            case Typed():
                await self._command(decision)
            case Clicked():
                await self._click(decision)
            case Replied():
                await self._replied(decision)

    # -- commands -----------------------------------------------------------------------

    async def _command(self, typed: Typed) -> None:
        invocation = Invocation(
            typed.actor,
            typed.place,
            f"{typed.command} {typed.arguments}".strip(),
            reply_handle=typed.reply_to,
        )
        try:
            command = parse_command(typed.command, typed.arguments)
        except GrammarError as exc:
            await self._say(typed.reply_to, exc.reason)
            return
        if isinstance(command, StartRun) and command.playbook in self.service.catalog:
            playbook = self.service.catalog.get(command.playbook)
            missing = missing_required(playbook, command.params)
            if missing:
                await self._say(typed.reply_to, missing_params(playbook, command.params, missing))
                return
        await self.service.handle(invocation, command)

    # -- presses ------------------------------------------------------------------------

    async def _click(self, clicked: Clicked) -> None:
        reply_to = clicked.reply_to
        try:
            resolved = await self.keys.resolve(clicked.key)
        except SQLAlchemyError:
            log.warning("telegram_key_lookup_failed", exc_info=True)
            await self._say(reply_to, DATABASE_DOWN, alert=True)
            return
        if resolved is None:
            log.info("telegram_unknown_key", chat=reply_to.chat_id)
            await self._say(reply_to, NOT_MINE, alert=True)
            return
        if resolved.chat != clicked.place.channel:
            log.warning("telegram_key_from_another_chat", chat=reply_to.chat_id)
            await self._say(reply_to, ELSEWHERE, alert=True)
            return
        button = resolved.button
        message = MessageRef(
            SURFACE, clicked.place.channel, str(clicked.message_id), clicked.place.thread
        )
        if button.action is ButtonAction.DENY:
            await self._ask_why(clicked, button)
            return
        await self._press(ButtonPress(clicked.actor, clicked.place, button, message, reply_to))

    async def _press(self, press: ButtonPress) -> None:
        """Hand a press to the core; its spinner stops when the core is done, or after
        ``answer_within`` seconds, whichever comes first (a refusal is an alert when it
        comes in time)."""
        reply_to: ReplyTo = press.reply_handle
        work = asyncio.ensure_future(self.service.press(press))
        done, _ = await asyncio.wait({work}, timeout=self.answer_within)
        if not done:
            await self._say(reply_to, "")
        await work
        await self._say(reply_to, "")

    async def _ask_why(self, clicked: Clicked, button: Button) -> None:
        """Deny asks why first, of someone who may decide; the reply completes it."""
        reply_to = clicked.reply_to
        try:
            refusal = await self._deny_refusal(clicked.actor, button)
        except SQLAlchemyError:
            log.warning("telegram_deny_check_failed", exc_info=True)
            await self._say(reply_to, DATABASE_DOWN, alert=True)
            return
        if refusal is not None:
            await self._say(reply_to, refusal, alert=True)
            return
        what = f"run #{button.run_id}"
        if button.step:
            what = f"step `{button.step}` of {what}"
        question = (
            f"{self.chat.mention(clicked.actor.id)}, why deny {what}? Reply to this message "
            f"with your reason (or `{NO_REASON}` for none)."
        )
        try:
            asked = await self.chat.ask(reply_to, question, f"Why deny run #{button.run_id}?")
            await self.tokens.ask(
                SURFACE,
                _question_key(reply_to.chat_id, asked),
                clicked.place.channel,
                button,
                clicked.actor.key,
            )
        except (TelegramError, SQLAlchemyError) as exc:
            log.warning("telegram_deny_question_failed", run=button.run_id, error=repr(exc))
            await self._say(
                reply_to,
                f"I couldn't ask why just now, so run #{button.run_id} was not denied.",
                alert=True,
            )
            return
        await self._say(reply_to, f"Reply to my question with why you deny {what}.")

    async def _deny_refusal(self, clicker: Actor, button: Button) -> str | None:
        """Why ``clicker`` may not deny, by the core's rules (checked again when they
        reply): nobody is asked why about a run that no longer waits for a decision."""
        run = await self.service.store.get_run(button.run_id)
        if run is None or run.playbook not in self.service.catalog:
            return None  # the core says what is wrong when the reply comes
        waiting = RunStatus.RUNNING if button.step else RunStatus.PENDING
        if run.status is not waiting:
            return await not_now(self.service.store, run.id, "deny")
        policy = self._policy(run.playbook, button.step)
        if policy is None:
            return None
        return may_decide(clicker, run, policy, self.service.deps.config)

    def _policy(self, playbook: str, step: str | None) -> ApprovalPolicy | None:
        found = self.service.catalog.get(playbook)
        if step is None:
            return found.approval
        return next((s.approval for s in found.steps if s.id == step), None)

    async def _replied(self, replied: Replied) -> None:
        """A reply to the bot: the answer to a question it asked, or nothing to do."""
        key = _question_key(replied.reply_to.chat_id, replied.question)
        try:
            answer, button = await self.tokens.answer(SURFACE, key, replied.actor.key)
        except SQLAlchemyError:
            log.warning("telegram_answer_failed", exc_info=True)
            await self._say(replied.reply_to, DATABASE_DOWN)
            return
        if answer is Answer.NOT_YOURS:
            await self._say(replied.reply_to, NOT_YOURS)
            return
        if button is None:
            return  # chatter under one of the bot's messages, or a question answered before
        reason = replied.text.strip()
        message = MessageRef(
            SURFACE, replied.place.channel, str(replied.question), replied.place.thread
        )
        await self.service.press(
            ButtonPress(
                replied.actor,
                replied.place,
                button,
                message,
                reply_handle=replied.reply_to,
                reason="" if reason == NO_REASON else reason,
            )
        )

    # -- helpers ------------------------------------------------------------------------

    async def _first_delivery(self, decision: Decision) -> bool:
        """False for an update already acted on (here or on another replica)."""
        key = f"telegram:{self._bot_id()}:update:{decision.update_id}"
        try:
            first = await self.service.store.first_delivery(key)
        except SQLAlchemyError:
            log.warning("telegram_dedup_check_failed", exc_info=True)
            await self._say(decision.reply_to, DATABASE_DOWN, alert=True)
            return False
        if not first:
            log.info("telegram_redelivery_ignored", update=decision.update_id)
        return first

    async def _say(self, reply_to: ReplyTo, text: str, *, alert: bool = False) -> None:
        """Answer whoever acted: a press with its answer (``alert`` pops it up), or, once
        that is given, and for a command, a reply in the chat. Failures are logged."""
        try:
            if reply_to.query_id is not None and not reply_to.answered:
                await self.chat.answer(reply_to, text, alert=alert and bool(text))
            elif text:
                await self.chat.say(reply_to, text)
        except TelegramError as exc:
            log.warning("telegram_answer_failed", error=repr(exc))


def _question_key(chat_id: int, message_id: int) -> str:
    return f"reply:{chat_id}:{message_id}"
