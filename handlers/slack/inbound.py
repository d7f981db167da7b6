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

from bot.chat import Actor, Button, ButtonAction, ButtonPress, Invocation, MessageRef, Place
from bot.commands import Command, StartRun, decided_by_roles
from bot.policy import may_decide
from bot.service import ChatOpsService
from handlers.grammar import GrammarError, parse_command, split_command
from handlers.slack.blocks import parse_button
from handlers.slack.chat import SlackChat
from handlers.slack.identity import SURFACE, IdentityUnavailable, SlackIdentity
from handlers.slack.modal import (
    DenyContext,
    ModalContext,
    denial_reason,
    deny_modal,
    params_hint,
    params_modal,
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
        text = unescape(body.get("text", ""))
        place = Place(SURFACE, body["channel_id"], name=body.get("channel_name", ""))
        invocation = Invocation(
            _unresolved(body["user_id"], body.get("user_name", "")),
            place,
            f"{body['command']} {text}".strip(),
            reply_handle={"response_url": body.get("response_url")},
        )
        try:
            command = parse_command(body["command"], text)
        except GrammarError as exc:
            await self._private(invocation, exc.reason)
            return
        # The form first: its trigger_id expires 3 s after the command, so no other Slack
        # call (not even the user-group lookup) may come before it.
        if isinstance(command, StartRun) and await self._ask_for_params(body, invocation, command):
            return
        await self._handle(invocation, command)

    async def _ask_for_params(
        self, body: dict[str, Any], invocation: Invocation, command: StartRun
    ) -> bool:
        """Open the params form when required params are missing; True if it took over."""
        if command.playbook not in self.service.catalog or not body.get("trigger_id"):
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
            response_url=body.get("response_url"),
        )
        try:
            await self.client.views_open(
                trigger_id=body["trigger_id"],
                view=params_modal(playbook, command.params, context),
            )
        except _SLACK_FAILURES as exc:
            log.warning("slack_params_form_failed", playbook=playbook.name, error=repr(exc))
            await self._private(
                invocation,
                f"I couldn't open the form to fill in the params ({_why(exc)}). "
                + params_hint(playbook, command.params, missing),
            )
        return True

    async def action(self, body: dict[str, Any]) -> None:
        """A button click (block_actions); Deny asks why first."""
        action = body["actions"][0]
        user = body["user"]
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
        thread = container.get("thread_ts") or (body.get("message") or {}).get("thread_ts")
        place = Place(SURFACE, channel, thread)
        reply_to = Invocation(
            _unresolved(user["id"], user.get("username") or user.get("name", "")),
            place,
            "",
            {"response_url": body.get("response_url")},
        )
        try:
            button = parse_button(action["action_id"], action.get("value", ""))
        except ValueError as exc:
            await self._private(reply_to, str(exc))
            return
        if button.action is ButtonAction.DENY and body.get("trigger_id"):
            await self._ask_why(body, reply_to, button)
            return
        actor = await self._resolve(reply_to)
        if actor is None:
            return
        message = MessageRef(SURFACE, channel, container.get("message_ts", ""), thread)
        await self.service.press(
            ButtonPress(actor, place, button, message, reply_handle=reply_to.reply_handle)
        )

    async def _ask_why(self, body: dict[str, Any], reply_to: Invocation, button: Button) -> None:
        """Deny asks why first (the decision is taken when the form is sent), but only of
        someone who may decide."""
        try:
            refusal = await self._deny_refusal(reply_to.actor, button)
        except IdentityUnavailable as exc:
            refusal = exc.reason
        if refusal is not None:
            await self._private(reply_to, refusal)
            return
        action = body["actions"][0]
        container = body.get("container") or {}
        context = DenyContext(
            action_id=action["action_id"],
            value=action.get("value", ""),
            channel=reply_to.place.channel,
            message_ts=container.get("message_ts", ""),
            thread=reply_to.place.thread,
            response_url=body.get("response_url"),
        )
        try:
            await self.client.views_open(
                trigger_id=body["trigger_id"], view=deny_modal(f"run #{button.run_id}", context)
            )
        except _SLACK_FAILURES as exc:
            log.warning("slack_deny_form_failed", run=button.run_id, error=repr(exc))
            await self._private(
                reply_to, f"I couldn't open the form to deny run #{button.run_id} ({_why(exc)})."
            )

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
        self, body: dict[str, Any], context: ModalContext, params: dict[str, str]
    ) -> None:
        """The params form sent (already validated): start the run as the command would."""
        user = body["user"]
        place = Place(SURFACE, context.channel, context.thread, context.channel_name)
        invocation = Invocation(
            _unresolved(user["id"], user.get("username") or user.get("name", "")),
            place,
            f"/playbook {context.playbook}",
            {"response_url": context.response_url},
        )
        actor = await self._resolve(invocation)
        if actor is not None:
            await self.service.handle(
                dataclasses.replace(invocation, actor=actor),
                StartRun(context.playbook, dict(params), context.dry_run),
            )

    async def denied(self, body: dict[str, Any]) -> None:
        """The deny-reason form sent: the Deny, with its reason."""
        view = body["view"]
        context = DenyContext.decode(view.get("private_metadata") or "{}")
        user = body["user"]
        place = Place(SURFACE, context.channel, context.thread)
        reply_to = Invocation(
            _unresolved(user["id"], user.get("username") or user.get("name", "")),
            place,
            "",
            {"response_url": context.response_url},
        )
        try:
            button = parse_button(context.action_id, context.value)
        except ValueError as exc:
            await self._private(reply_to, str(exc))
            return
        actor = await self._resolve(reply_to)
        if actor is None:
            return
        message = MessageRef(SURFACE, context.channel, context.message_ts, context.thread)
        reason = denial_reason(view.get("state", {}).get("values", {}))
        await self.service.press(
            ButtonPress(
                actor, place, button, message, reply_handle=reply_to.reply_handle, reason=reason
            )
        )

    async def mention(self, body: dict[str, Any]) -> None:
        """``@chatops playbook status 12`` in a channel or thread: the grammar without a slash."""
        event = body["event"]
        event_id = body.get("event_id") or event.get("client_msg_id") or event.get("ts")
        if not await self.service.store.first_delivery(f"slack:event:{event_id}"):
            return  # a retry of an event already handled
        text = _MENTION.sub("", unescape(event.get("text", "")))
        command, arguments = split_command(text if text.startswith("/") else f"/{text}")
        place = Place(SURFACE, event["channel"], event.get("thread_ts"))
        invocation = Invocation(_unresolved(event.get("user", "")), place, text)
        try:
            parsed = parse_command(command, arguments)
        except GrammarError as exc:
            await self._private(invocation, exc.reason)
            return
        await self._handle(invocation, parsed)

    # -- helpers --------------------------------------------------------------------------

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


def _unresolved(user_id: str, name: str = "") -> Actor:
    """Who acted, before their user groups are known: enough to answer them."""
    return Actor(SURFACE, user_id, name or user_id)


def _why(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return f"Slack said `{exc.response.get('error')}`"
    if isinstance(exc, SlackObjectFormationError):
        return "the form was not valid"
    return "Slack didn't answer"
