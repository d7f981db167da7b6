"""The Slack surface: slack-bolt listeners that ack at once and hand the work to the core.

Every command, click and submission is acknowledged before any database or target I/O
(Slack allows 3 seconds); the work continues in a task. Payloads become neutral
Invocations and ButtonPresses; the core answers through :class:`SlackChat`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
import structlog
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.chat import ButtonAction, ButtonPress, Invocation, MessageRef, Place
from bot.commands import StartRun
from bot.service import ChatOpsService
from bot.settings import Settings
from handlers.grammar import GrammarError, parse_command, split_command
from handlers.slack.blocks import ACTION_PREFIX, parse_button
from handlers.slack.chat import SlackChat
from handlers.slack.identity import SURFACE, SlackIdentity
from handlers.slack.modal import (
    CALLBACK_ID,
    DENY_CALLBACK_ID,
    DenyContext,
    ModalContext,
    denial_reason,
    deny_modal,
    field_errors,
    params_modal,
    submitted_params,
)
from playbooks.params import missing_required

__all__ = ["SLACK_COMMANDS", "SlackSurface"]

SLACK_COMMANDS = ("/playbook", "/schedule")
DEFAULT_API_URL = "https://slack.com/api/"
_MENTION = re.compile(r"^\s*<@[A-Z0-9]+>\s*")
log = structlog.get_logger(__name__)


class SlackSurface:
    """The bolt app, its Web API client and the Chat port, for one workspace."""

    def __init__(self, service: ChatOpsService, settings: Settings) -> None:
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        if token is None:
            raise ValueError("SLACK_BOT_TOKEN is not set")
        secret = settings.slack_signing_secret
        # One HTTP session for every Web API call: without it slack_sdk opens (and, against
        # Slack, TLS-handshakes) a new connection per message.
        self._http = aiohttp.ClientSession()
        self.client = AsyncWebClient(
            token=token,
            session=self._http,
            base_url=settings.slack_api_url or DEFAULT_API_URL,
            retry_handlers=[
                AsyncRateLimitErrorRetryHandler(max_retry_count=3),
                AsyncConnectionErrorRetryHandler(max_retry_count=2),
            ],
        )
        self.app = AsyncApp(
            client=self.client,  # bolt takes the bot token from it
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
        actor = await self.identity.actor(body["user_id"], body.get("user_name", ""))
        place = Place(SURFACE, body["channel_id"], name=body.get("channel_name", ""))
        text = body.get("text", "")
        invocation = Invocation(
            actor,
            place,
            f"{body['command']} {text}".strip(),
            reply_handle={"response_url": body.get("response_url")},
        )
        try:
            command = parse_command(body["command"], text)
        except GrammarError as exc:
            await self.chat.reply_private(invocation, exc.reason)
            return
        if isinstance(command, StartRun) and command.playbook in self.service.catalog:
            playbook = self.service.catalog.get(command.playbook)
            if missing_required(playbook, command.params) and body.get("trigger_id"):
                context = ModalContext(
                    playbook.name, place.channel, place.name, None, command.dry_run
                )
                await self.client.views_open(
                    trigger_id=body["trigger_id"],
                    view=params_modal(playbook, command.params, context),
                )
                return
        await self.service.handle(invocation, command)

    async def _action(self, body: dict[str, Any]) -> None:
        action = body["actions"][0]
        user = body["user"]
        actor = await self.identity.actor(user["id"], user.get("username") or user.get("name", ""))
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
        thread = container.get("thread_ts") or (body.get("message") or {}).get("thread_ts")
        place = Place(SURFACE, channel, thread)
        handle = {"response_url": body.get("response_url")}
        try:
            button = parse_button(action["action_id"], action.get("value", ""))
        except ValueError as exc:
            await self.chat.reply_private(Invocation(actor, place, "", handle), str(exc))
            return
        if button.action is ButtonAction.DENY and body.get("trigger_id"):
            # Ask why first; the decision is taken when the form is sent.
            context = DenyContext(
                action_id=action["action_id"],
                value=action.get("value", ""),
                channel=channel,
                message_ts=container.get("message_ts", ""),
                thread=thread,
                response_url=body.get("response_url"),
            )
            await self.client.views_open(
                trigger_id=body["trigger_id"], view=deny_modal(f"run #{button.run_id}", context)
            )
            return
        message = MessageRef(SURFACE, channel, container.get("message_ts", ""), thread)
        await self.service.press(ButtonPress(actor, place, button, message, reply_handle=handle))

    async def _submitted(
        self, body: dict[str, Any], context: ModalContext, params: dict[str, str]
    ) -> None:
        user = body["user"]
        actor = await self.identity.actor(user["id"], user.get("username") or user.get("name", ""))
        place = Place(SURFACE, context.channel, context.thread, context.channel_name)
        invocation = Invocation(actor, place, f"/playbook {context.playbook}")
        await self.service.handle(
            invocation, StartRun(context.playbook, dict(params), context.dry_run)
        )

    async def _denied(self, body: dict[str, Any]) -> None:
        view = body["view"]
        context = DenyContext.decode(view.get("private_metadata") or "{}")
        user = body["user"]
        actor = await self.identity.actor(user["id"], user.get("username") or user.get("name", ""))
        place = Place(SURFACE, context.channel, context.thread)
        handle = {"response_url": context.response_url}
        try:
            button = parse_button(context.action_id, context.value)
        except ValueError as exc:
            await self.chat.reply_private(Invocation(actor, place, "", handle), str(exc))
            return
        message = MessageRef(SURFACE, context.channel, context.message_ts, context.thread)
        reason = denial_reason(view.get("state", {}).get("values", {}))
        await self.service.press(
            ButtonPress(actor, place, button, message, reply_handle=handle, reason=reason)
        )

    async def _mention(self, body: dict[str, Any]) -> None:
        """``@chatops playbook status 12`` in a channel or thread: the grammar without a slash."""
        event = body["event"]
        event_id = body.get("event_id") or event.get("client_msg_id") or event.get("ts")
        if not await self.service.store.first_delivery(f"slack:event:{event_id}"):
            return  # a retry of an event already handled
        text = _MENTION.sub("", event.get("text", ""))
        command, arguments = split_command(text if text.startswith("/") else f"/{text}")
        actor = await self.identity.actor(event.get("user", ""))
        place = Place(SURFACE, event["channel"], event.get("thread_ts"))
        invocation = Invocation(actor, place, text)
        try:
            parsed = parse_command(command, arguments)
        except GrammarError as exc:
            await self.chat.reply_private(invocation, exc.reason)
            return
        await self.service.handle(invocation, parsed)
