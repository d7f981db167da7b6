"""The Slack surface: slack-bolt listeners that ack at once and hand the work to the core.

Every command, click and submission is acknowledged before any Slack, database or target
I/O (Slack allows 3 seconds); the work continues in a task. Payloads become neutral
Invocations and ButtonPresses; the core answers through :class:`SlackChat`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
import structlog
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError, SlackClientError, SlackObjectFormationError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.chat import Actor, Button, ButtonAction, ButtonPress, Invocation, MessageRef, Place
from bot.commands import StartRun
from bot.policy import may_decide
from bot.service import ChatOpsService
from bot.settings import Settings
from handlers.grammar import GrammarError, parse_command, split_command
from handlers.slack.blocks import ACTION_PREFIX, parse_button
from handlers.slack.chat import SlackChat
from handlers.slack.identity import SURFACE, IdentityUnavailable, SlackIdentity
from handlers.slack.modal import (
    CALLBACK_ID,
    DENY_CALLBACK_ID,
    DenyContext,
    ModalContext,
    denial_reason,
    deny_modal,
    field_errors,
    params_hint,
    params_modal,
    submitted_params,
)
from handlers.slack.text import unescape
from playbooks.errors import ChatOpsError
from playbooks.model import ApprovalPolicy
from playbooks.params import missing_required

__all__ = ["SLACK_COMMANDS", "SlackSurface", "api_base_url"]

SLACK_COMMANDS = ("/playbook", "/schedule")
DEFAULT_API_URL = "https://slack.com/api/"
_MENTION = re.compile(r"^\s*<@[A-Z0-9]+>\s*")
# What a Web API call may raise besides an answer: Slack's errors, network, timeouts, and
# (views.open) a view slack_sdk itself refuses to send.
_SLACK_FAILURES = (SlackClientError, SlackObjectFormationError, aiohttp.ClientError, TimeoutError)
log = structlog.get_logger(__name__)


def api_base_url(url: str | None) -> str:
    """``SLACK_API_URL`` as slack_sdk needs it: ending in ``/`` (it joins method names to it,
    and ``urljoin("http://h/api", "chat.update")`` drops the ``api``)."""
    return (url or DEFAULT_API_URL).rstrip("/") + "/"


class SlackSurface:
    """The bolt app, its Web API client and the Chat port, for one workspace."""

    def __init__(self, service: ChatOpsService, settings: Settings) -> None:
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        if token is None:
            raise ValueError("SLACK_BOT_TOKEN is not set")
        secret = settings.slack_signing_secret
        base_url = api_base_url(settings.slack_api_url)
        # One HTTP session for every Web API call: without it slack_sdk opens (and, against
        # Slack, TLS-handshakes) a new connection per message.
        self._http = aiohttp.ClientSession()
        self.client = AsyncWebClient(
            token=token, session=self._http, base_url=base_url, retry_handlers=_retries()
        )
        self._token = token
        self._bot: dict[str, str | None] = {}  # who the token is, once auth.test answered

        async def authorize(
            enterprise_id: str | None, team_id: str | None, user_id: str | None
        ) -> AuthorizeResult:
            return self._authorization(enterprise_id, team_id, user_id)

        self.app = AsyncApp(
            # bolt's own client carries no token: `authorize` gives it one per request from
            # memory. With a token instead, bolt calls auth.test before the first listener
            # (the first ack waits on Slack) and answers every request with an install error
            # while that call fails.
            client=AsyncWebClient(session=self._http, base_url=base_url, retry_handlers=_retries()),
            authorize=authorize,
            signing_secret=secret.get_secret_value() if secret else None,
            # Socket Mode is authenticated by its own connection; HTTP requests are signed.
            request_verification_enabled=secret is not None,
            # Our listeners ack first and return at once: respond as soon as they return.
            process_before_response=True,
            logger=logging.getLogger("chatops.slack"),
        )
        self.service = service
        self.chat = SlackChat(self.client)
        self.identity = SlackIdentity(self.client, service.deps.config)
        self._tasks: set[asyncio.Task[None]] = set()
        self._socket: AsyncSocketModeHandler | None = None
        self._register()

    # -- wiring -------------------------------------------------------------------------

    async def start(self) -> None:
        """Ask Slack who the token is (auth.test), once, so no request waits on it.

        A token Slack refuses stops start-up with a ChatOpsError; Slack unreachable is
        logged and the bot serves anyway (requests do not need the answer).
        """
        try:
            answer = await self.client.auth_test()
        except SlackApiError as exc:
            if exc.response.status_code == 200:
                error = exc.response.get("error")
                raise ChatOpsError(f"Slack refused SLACK_BOT_TOKEN ({error}).") from None
            log.warning("slack_auth_test_failed", error=str(exc))
            return
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack_auth_test_failed", error=repr(exc))
            return
        self._bot = {
            "bot_id": answer.get("bot_id"),
            "bot_user_id": answer.get("user_id"),
            "team_id": answer.get("team_id"),
            "enterprise_id": answer.get("enterprise_id"),
        }
        log.info("slack_authorized", team=answer.get("team"), bot=answer.get("user"))

    def routes(self) -> list[BaseRoute]:
        """``POST /slack/events``: commands, interactivity and events, signature-verified."""
        handler = AsyncSlackRequestHandler(self.app)

        async def events(request: Request) -> Response:
            return await handler.handle(request)

        return [Route("/slack/events", events, methods=["POST"])]

    async def start_socket_mode(self, app_token: str) -> None:
        """Connect over Socket Mode: the same listeners, no public URL needed."""
        self._socket = AsyncSocketModeHandler(self.app, app_token, web_client=self.client)
        await self._socket.connect_async()

    async def close(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)
        await self._http.close()

    async def idle(self) -> None:
        """Wait until every acknowledged request has been fully handled (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _authorization(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=enterprise_id or self._bot.get("enterprise_id"),
            team_id=team_id or self._bot.get("team_id"),
            user_id=user_id,
            bot_token=self._token,
            bot_id=self._bot.get("bot_id"),
            bot_user_id=self._bot.get("bot_user_id"),
        )

    def _register(self) -> None:
        for command in SLACK_COMMANDS:
            self.app.command(command)(self._on_command)
        self.app.action(re.compile(rf"^{re.escape(ACTION_PREFIX)}"))(self._on_action)
        self.app.view(CALLBACK_ID)(self._on_submission)
        self.app.view(DENY_CALLBACK_ID)(self._on_denial)
        self.app.event("app_mention")(self._on_mention)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("slack_handler_failed", exc_info=task.exception())

    # -- listeners: ack, then work in a task ----------------------------------------------

    async def _on_command(self, ack: Callable[[], Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        self._spawn(self._command(body))

    async def _on_action(self, ack: Callable[[], Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        self._spawn(self._action(body))

    async def _on_mention(self, ack: Callable[[], Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        self._spawn(self._mention(body))

    async def _on_denial(self, ack: Callable[[], Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        self._spawn(self._denied(body))

    async def _on_submission(
        self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]
    ) -> None:
        view = body["view"]
        context = ModalContext.decode(view.get("private_metadata") or "{}")
        playbook = self.service.catalog.get(context.playbook)
        params = submitted_params(view.get("state", {}).get("values", {}))
        errors = field_errors(playbook, params)
        if errors:
            # Shown under each field at once; the modal stays open.
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        self._spawn(self._submitted(body, context, params))

    # -- work -----------------------------------------------------------------------------

    async def _command(self, body: dict[str, Any]) -> None:
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
        actor = await self._resolve(invocation)
        if actor is not None:
            await self.service.handle(dataclasses.replace(invocation, actor=actor), command)

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

    async def _action(self, body: dict[str, Any]) -> None:
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

    async def _submitted(
        self, body: dict[str, Any], context: ModalContext, params: dict[str, str]
    ) -> None:
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

    async def _denied(self, body: dict[str, Any]) -> None:
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

    async def _mention(self, body: dict[str, Any]) -> None:
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
        actor = await self._resolve(invocation)
        if actor is not None:
            await self.service.handle(dataclasses.replace(invocation, actor=actor), parsed)

    # -- helpers --------------------------------------------------------------------------

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


def _retries() -> list[AsyncRetryHandler]:
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
    ]
