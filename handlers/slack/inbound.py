"""What a Slack command, click, form or mention does once it was acknowledged.

Payload → neutral Invocation / ButtonPress → the core; forms are opened here (first, while
the trigger_id is fresh), and anything Slack or the lookups refuse becomes a private answer.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError, SlackClientError, SlackObjectFormationError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.chat import Actor, Button, ButtonAction, ButtonPress, Invocation, MessageRef, Place
from bot.commands import Command, StartRun, decided_by_roles
from bot.policy import may_decide
from bot.service import DATABASE_DOWN, ChatOpsService
from handlers.dispatch import parse_or_answer
from handlers.grammar import split_command
from handlers.slack.blocks import parse_button
from handlers.slack.identity import SURFACE, IdentityUnavailable, SlackIdentity
from handlers.slack.modal import (
    DENY_FORM,
    PARAMS_FORM,
    DenyContext,
    ModalContext,
    denial_reason,
    deny_modal,
    params_hint,
    params_modal,
)
from handlers.slack.output import SlackChat
from handlers.slack.payloads import (
    Click,
    FormSubmission,
    Unreadable,
    read_click,
    read_command,
    read_mention,
)
from handlers.slack.text import unescape
from playbooks.model import ApprovalPolicy
from playbooks.params import missing_required

__all__ = ["SlackInbound"]

_MENTION = re.compile(r"^\s*<@[A-Z0-9]+>\s*")
# What a Web API call may raise besides an answer: Slack's errors, network, timeouts, and
# (views.open) a view slack_sdk itself refuses to send.
_SLACK_FAILURES = (SlackClientError, SlackObjectFormationError, aiohttp.ClientError, TimeoutError)
log = structlog.get_logger(__name__)


class SlackInbound:
    """The work behind each listener of :class:`handlers.slack.app.SlackSurface`."""

    def __init__(
        self,
        service: ChatOpsService,
        client: AsyncWebClient,
        chat: SlackChat,
        identity: SlackIdentity,
    ) -> None:
        self.service = service
        self.client = client
        self.chat = chat
        self.identity = identity

    async def command(self, body: dict[str, Any]) -> None:
        """A slash command: the params form when required ones are missing, else the core."""
        try:
            typed = read_command(body)
        except Unreadable as exc:
            await self.unreadable(exc)
            return
        place = Place(SURFACE, typed.channel_id, name=typed.channel_name)
        text = f"{typed.command} {typed.text}".strip()
        invocation = _origin(typed.user_id, typed.user_name, place, typed.response_url, text)
        if not await self._first_delivery(invocation, typed.trigger_id):
            return
        command = await parse_or_answer(self.chat, invocation, typed.command, unescape(typed.text))
        if command is None:
            return
        # The form first: its trigger_id expires 3 s after the command, so no other Slack
        # call (not even the user-group lookup) may come before it.
        if isinstance(command, StartRun) and await self._ask_for_params(
            typed.trigger_id, invocation, command
        ):
            return
        await self._handle(invocation, command)

    async def _ask_for_params(
        self, trigger_id: str | None, invocation: Invocation, command: StartRun
    ) -> bool:
        """Open the params form when required params are missing; True if it took over."""
        if command.playbook not in self.service.catalog or not trigger_id:
            return False
        playbook = self.service.catalog.get(command.playbook)
        missing = missing_required(playbook, command.params)
        if not missing:
            return False
        place = invocation.place
        context = ModalContext(
            playbook.name,
            place.channel,
            place.name,
            None,
            command.dry_run,
            response_url=invocation.reply_handle.get("response_url"),
        )
        try:
            opened = await self.client.views_open(
                trigger_id=trigger_id, view=params_modal(playbook, command.params, context)
            )
        except _SLACK_FAILURES as exc:
            log.warning("slack_params_form_failed", playbook=playbook.name, error=repr(exc))
            await self._private(
                invocation,
                f"I couldn't open the form to fill in the params ({_why(exc)}). "
                + params_hint(playbook, command.params, missing),
            )
            return True
        await self._record_form(opened, invocation.actor, PARAMS_FORM)
        return True

    async def action(self, body: dict[str, Any]) -> None:
        """A button click (block_actions); Deny asks why first."""
        try:
            click = read_click(body)
        except Unreadable as exc:
            await self.unreadable(exc)
            return
        place = Place(SURFACE, click.channel, click.thread)
        reply_to = _origin(click.user_id, click.user_name, place, click.response_url)
        if not await self._first_delivery(reply_to, click.trigger_id):
            return
        try:
            button = parse_button(click.action_id, click.value)
        except ValueError as exc:
            await self._private(reply_to, str(exc))
            return
        if button.action is ButtonAction.DENY and click.trigger_id:
            await self._ask_why(click, reply_to, button)
            return
        actor = await self._resolve(reply_to)
        if actor is None:
            return
        message = MessageRef(SURFACE, click.channel, click.message_ts, click.thread)
        await self.service.press(
            ButtonPress(actor, place, button, message, reply_handle=reply_to.reply_handle)
        )

    async def _ask_why(self, click: Click, reply_to: Invocation, button: Button) -> None:
        """Deny asks why first (the decision is taken when the form is sent), but only of
        someone who may decide."""
        try:
            refusal = await self._deny_refusal(reply_to.actor, button)
        except IdentityUnavailable as exc:
            refusal = exc.reason
        if refusal is not None:
            await self._private(reply_to, refusal)
            return
        context = DenyContext(
            action_id=click.action_id,
            value=click.value,
            channel=reply_to.place.channel,
            message_ts=click.message_ts,
            thread=reply_to.place.thread,
            response_url=click.response_url,
        )
        try:
            opened = await self.client.views_open(
                trigger_id=str(click.trigger_id), view=deny_modal(f"run #{button.run_id}", context)
            )
        except _SLACK_FAILURES as exc:
            log.warning("slack_deny_form_failed", run=button.run_id, error=repr(exc))
            await self._private(
                reply_to, f"I couldn't open the form to deny run #{button.run_id} ({_why(exc)})."
            )
            return
        await self._record_form(opened, reply_to.actor, DENY_FORM)

    async def _deny_refusal(self, clicker: Actor, button: Button) -> str | None:
        """Why ``clicker`` may not deny, or None (also when the run can't be looked up: the
        decision itself is checked again when the form is sent)."""
        try:
            run = await self.service.store.get_run(button.run_id)
        except Exception:
            log.warning("slack_deny_check_failed", run=button.run_id, exc_info=True)
            return None
        policy = self._policy(run.playbook, button.step) if run is not None else None
        if run is None or policy is None:
            return None
        config = self.service.deps.config
        # Most approvers are listed by user ID: ask Slack for groups only when that is not
        # enough, to keep the form's trigger_id fresh.
        if may_decide(clicker, run, policy, config) is None:
            return None
        actor = await self.identity.actor(clicker.id, clicker.name)
        return may_decide(actor, run, policy, config)

    def _policy(self, playbook: str, step: str | None) -> ApprovalPolicy | None:
        if playbook not in self.service.catalog:
            return None
        found = self.service.catalog.get(playbook)
        if step is None:
            return found.approval
        return next((s.approval for s in found.steps if s.id == step), None)

    async def submitted(
        self, sent: FormSubmission, context: ModalContext, params: dict[str, str]
    ) -> None:
        """The params form sent (already validated): start the run as the command would,
        if the bot opened this form for this person and it was not sent before."""
        place = Place(SURFACE, context.channel, context.thread, context.channel_name)
        invocation = _origin(
            sent.user_id,
            sent.user_name,
            place,
            context.response_url,
            f"/playbook {context.playbook}",
        )
        if not await self._claim_form(sent, invocation, PARAMS_FORM):
            return
        actor = await self._resolve(invocation)
        if actor is not None:
            await self.service.handle(
                dataclasses.replace(invocation, actor=actor),
                StartRun(context.playbook, dict(params), context.dry_run),
            )

    async def denied(self, sent: FormSubmission, context: DenyContext, button: Button) -> None:
        """The deny-reason form sent: the Deny, with its reason."""
        place = Place(SURFACE, context.channel, context.thread)
        reply_to = _origin(sent.user_id, sent.user_name, place, context.response_url)
        if not await self._claim_form(sent, reply_to, DENY_FORM):
            return
        actor = await self._resolve(reply_to)
        if actor is None:
            return
        message = MessageRef(SURFACE, context.channel, context.message_ts, context.thread)
        await self.service.press(
            ButtonPress(
                actor,
                place,
                button,
                message,
                reply_handle=reply_to.reply_handle,
                reason=denial_reason(sent.values),
            )
        )

    async def mention(self, body: dict[str, Any]) -> None:
        """``@chatops playbook status 12`` in a channel or thread: the grammar without a slash."""
        try:
            typed = read_mention(body)
        except Unreadable as exc:
            await self.unreadable(exc)
            return
        place = Place(SURFACE, typed.channel, typed.thread)
        text = _MENTION.sub("", unescape(typed.text))
        invocation = _origin(typed.user_id, "", place, None, text)
        if not await self._first_delivery(invocation, typed.event_id, kind="event"):
            return  # a retry of an event already handled
        command, arguments = split_command(text if text.startswith("/") else f"/{text}")
        parsed = await parse_or_answer(self.chat, invocation, command, arguments)
        if parsed is not None:
            await self._handle(invocation, parsed)

    async def unreadable(self, exc: Unreadable) -> None:
        """A payload the work cannot read: logged with its kind, and its author (if it
        names one we can reach) is told privately that nothing was done."""
        log.warning("slack_payload_unreadable", kind=exc.kind, problem=exc.problem)
        route = exc.route
        if not route.reachable or route.user is None:
            return
        place = Place(SURFACE, route.channel or "", route.thread)
        to = _origin(route.user, "", place, route.response_url)
        await self._private(
            to, f"I couldn't read that request from Slack ({exc.problem}), so nothing was done."
        )

    # -- helpers --------------------------------------------------------------------------

    async def _first_delivery(
        self, origin: Invocation, delivery_id: str | None, *, kind: str = "trigger"
    ) -> bool:
        """False for a request Slack (or anyone replaying it) delivered before: each
        interaction has its own trigger_id, each event its own event_id. A database that
        cannot say is answered as for any command."""
        if not delivery_id:
            return True
        try:
            first = await self.service.store.first_delivery(f"slack:{kind}:{delivery_id}")
        except SQLAlchemyError:
            log.warning("slack_dedup_check_failed", exc_info=True)
            await self._private(origin, DATABASE_DOWN)
            return False
        if not first:
            log.info("slack_redelivery_ignored", kind=kind)
        return first

    async def _record_form(self, opened: AsyncSlackResponse, actor: Actor, kind: str) -> None:
        """Remember the form views.open opened, so only its own submission is accepted."""
        view = opened.get("view")
        view_id = view.get("id") if isinstance(view, dict) else None
        if not isinstance(view_id, str):
            log.warning("slack_form_without_id", kind=kind)
            return
        try:
            await self.service.store.record_form(
                view_id, surface=SURFACE, opened_for=actor.key, kind=kind
            )
        except SQLAlchemyError:
            log.warning("slack_form_not_recorded", kind=kind, exc_info=True)

    async def _claim_form(self, sent: FormSubmission, origin: Invocation, kind: str) -> bool:
        """Whether this is the first submission of a form the bot opened for its sender."""
        try:
            claimed = await self.service.store.claim_form(
                sent.view_id, surface=SURFACE, opened_for=origin.actor.key, kind=kind
            )
        except SQLAlchemyError:
            log.warning("slack_form_claim_failed", kind=kind, exc_info=True)
            await self._private(origin, DATABASE_DOWN)
            return False
        if not claimed:
            log.warning("slack_form_refused", kind=kind, reason="not opened here, or sent before")
            await self._private(
                origin,
                "That form was not opened for you by me, or was already sent, so nothing was done.",
            )
        return claimed

    async def _handle(self, invocation: Invocation, command: Command) -> None:
        """Hand ``command`` to the core, with the actor's user groups where its roles decide
        the answer: a list or a status needs no Slack lookup, so it answers even when Slack
        can't say which groups someone is in."""
        if decided_by_roles(command):
            actor = await self._resolve(invocation)
            if actor is None:
                return
            invocation = dataclasses.replace(invocation, actor=actor)
        await self.service.handle(invocation, command)

    async def _resolve(self, origin: Invocation) -> Actor | None:
        """The actor with its user groups; None (and a private answer) if Slack can't say."""
        try:
            return await self.identity.actor(origin.actor.id, origin.actor.name)
        except IdentityUnavailable as exc:
            await self._private(origin, exc.reason)
            return None

    async def _private(self, to: Invocation, text: str) -> None:
        try:
            await self.chat.reply_private(to, text)
        except Exception:
            log.warning("slack_private_reply_failed", exc_info=True)


def _origin(
    user_id: str, name: str, place: Place, response_url: str | None, text: str = ""
) -> Invocation:
    """Who acted and where, before their user groups are known: enough to answer them
    privately (through the interaction's response_url when Slack gave one)."""
    return Invocation(_unresolved(user_id, name), place, text, {"response_url": response_url})


def _unresolved(user_id: str, name: str = "") -> Actor:
    """Who acted, before their user groups are known: enough to answer them."""
    return Actor(SURFACE, user_id, name or user_id)


def _why(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return f"Slack said `{exc.response.get('error')}`"
    if isinstance(exc, SlackObjectFormationError):
        return "the form was not valid"
    return "Slack didn't answer"
