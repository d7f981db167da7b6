"""The Slack surface: slack-bolt listeners that ack at once and hand the work to the core.

Every command, click and submission is acknowledged before any Slack, database or target
I/O (Slack allows 3 seconds); the work is handed to a :class:`WorkQueue`, which runs it
behind the acks, in order per user, and :class:`SlackInbound` turns the payloads into
neutral Invocations and ButtonPresses; the core answers through :class:`SlackChat`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import structlog
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.service import ChatOpsService
from bot.settings import Settings
from handlers.slack.admission import (
    Listened,
    Refused,
    SlackSignature,
    decode_payload,
    read_body,
    route_of,
)
from handlers.slack.blocks import ACTION_PREFIX, parse_button
from handlers.slack.identity import SURFACE, SlackIdentity
from handlers.slack.inbound import SlackInbound
from handlers.slack.modal import (
    CALLBACK_ID,
    DENY_CALLBACK_ID,
    DenyContext,
    ModalContext,
    field_errors,
    submitted_params,
    unreadable_form,
)
from handlers.slack.output import SlackChat
from handlers.slack.payloads import Unreadable, read_submission
from handlers.slack.sdklog import sdk_logger
from handlers.slack.work import WorkQueue
from playbooks.errors import ChatOpsError

__all__ = ["SLACK_COMMANDS", "SlackSurface", "api_base_url"]

SLACK_COMMANDS = ("/playbook", "/schedule")
DEFAULT_API_URL = "https://slack.com/api/"
_REFUSAL_TEXT = {
    400: "malformed request",
    401: "invalid request signature",
    413: "request body too large",
}
log = structlog.get_logger(__name__)


def api_base_url(url: str | None) -> str:
    """``SLACK_API_URL`` as slack_sdk needs it: ending in ``/`` (it joins method names to it,
    and ``urljoin("http://h/api", "chat.update")`` drops the ``api``)."""
    return (url or DEFAULT_API_URL).rstrip("/") + "/"


class SlackSurface:
    """The Slack :class:`~bot.surface.Surface`: the bolt app, its Web API client and the
    Chat port, for one workspace, over HTTP or Socket Mode."""

    name = SURFACE

    def __init__(self, service: ChatOpsService, settings: Settings) -> None:
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        if token is None:
            raise ChatOpsError("Slack needs SLACK_BOT_TOKEN")
        secret = settings.slack_signing_secret
        app_token = settings.slack_app_token
        if secret is None and app_token is None:
            raise ChatOpsError(
                "Slack over HTTP needs SLACK_SIGNING_SECRET "
                "(or set SLACK_APP_TOKEN for Socket Mode)"
            )
        self._app_token = app_token.get_secret_value() if app_token else None
        self._signing_secret = secret.get_secret_value() if secret else None
        base_url = api_base_url(settings.slack_api_url)
        # One HTTP session for every Web API call: without it slack_sdk opens (and, against
        # Slack, TLS-handshakes) a new connection per message.
        self._http = aiohttp.ClientSession()
        logger = sdk_logger()
        self.client = AsyncWebClient(
            token=token,
            session=self._http,
            base_url=base_url,
            retry_handlers=_retries(),
            logger=logger,
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
            client=AsyncWebClient(
                session=self._http, base_url=base_url, retry_handlers=_retries(), logger=logger
            ),
            authorize=authorize,
            # Signatures are checked by routes() before bolt parses (or logs) anything; Socket
            # Mode is authenticated by its own connection.
            request_verification_enabled=False,
            # Our listeners ack first and return at once: respond as soon as they return.
            process_before_response=True,
            logger=logging.getLogger("chatops.slack"),
        )
        self.service = service
        self.chat = SlackChat(self.client)
        self.identity = SlackIdentity(self.client, service.deps.config)
        self.inbound = SlackInbound(service, self.client, self.chat, self.identity)
        self.work = WorkQueue()
        self._socket: AsyncSocketModeHandler | None = None
        self._register()

    # -- wiring -------------------------------------------------------------------------

    async def open(self) -> None:
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
        """``POST /slack/events``: commands, interactivity and events (none in Socket Mode).
        Each request passes :mod:`handlers.slack.admission` (size, signature, encoding, route
        and shape) before bolt sees it."""
        if self._app_token is not None or self._signing_secret is None:
            return []
        signature = SlackSignature(self._signing_secret)
        listened = Listened(
            commands=SLACK_COMMANDS,
            action_prefix=ACTION_PREFIX,
            callback_ids=(CALLBACK_ID, DENY_CALLBACK_ID),
        )

        async def events(request: Request) -> Response:
            try:
                body = await read_body(request)
                signature.check(body, request.headers)
                payload = decode_payload(body, request.headers.get("content-type"))
                kind = route_of(payload, listened)
                if kind is None:
                    log.info("slack_request_not_handled", type=str(payload.get("type"))[:40])
                    return PlainTextResponse("not handled here", 404)
                bolt_request = self._bolt_request(request, body)
            except Refused as refused:
                self._refused(refused)
                return PlainTextResponse(_REFUSAL_TEXT[refused.status], refused.status)
            response = await self.app.async_dispatch(bolt_request)
            if response.status >= 500:
                log.error("slack_request_failed", kind=kind, status=response.status)
            return to_starlette_response(response)

        return [Route("/slack/events", events, methods=["POST"])]

    @staticmethod
    def _bolt_request(request: Request, body: bytes) -> AsyncBoltRequest:
        """The request as bolt reads it: bolt reads who and where from many optional fields
        of the payload at once, and a type Slack never sends there is refused (400)."""
        try:
            return AsyncBoltRequest(
                body=body.decode("utf-8"),
                query=request.url.query,
                headers=dict(request.headers),
            )
        except Exception:  # bolt's extractors index into whatever they find
            raise Refused(400, "payload bolt cannot read (a field of an unexpected type)") from None

    def _refused(self, refused: Refused) -> None:
        self.service.deps.metrics.http_refused.labels("slack", str(refused.status)).inc()
        # Unsigned noise from the internet is not worth a warning; a signed request Slack
        # would never send is (a client bug or someone holding the signing secret).
        level = log.warning if refused.status == 400 else log.info
        level("slack_request_refused", status=refused.status, reason=refused.reason)

    async def start(self) -> None:
        """In Socket Mode, connect: the same listeners, no public URL needed (over HTTP,
        requests arrive through :meth:`routes` as soon as the server listens)."""
        if self._app_token is None:
            log.info("slack_ready", mode="http", path="/slack/events")
            return
        self._socket = AsyncSocketModeHandler(self.app, self._app_token, web_client=self.client)
        await self._socket.connect_async()
        log.info("slack_connected", mode="socket")

    async def close(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
        await self.work.close()
        await self._http.close()

    async def idle(self) -> None:
        """Wait until every acknowledged request has been fully handled (tests, shutdown)."""
        await self.work.idle()

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

    # -- listeners: ack, then hand the work over ------------------------------------------
    # Work is keyed by who acted: a person's clicks and forms are handled one at a time in
    # the order Slack delivered them, their commands beside each other (see WorkQueue).

    async def _on_command(self, ack: Callable[[], Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        self.work.submit(
            str(body.get("user_id", "")), lambda: self.inbound.command(body), exclusive=False
        )

    async def _on_action(self, ack: Callable[[], Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        self.work.submit(_user_of(body), lambda: self.inbound.action(body))

    async def _on_mention(self, ack: Callable[[], Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        user = str(body["event"].get("user", ""))  # admission: event is an object
        self.work.submit(user, lambda: self.inbound.mention(body), exclusive=False)

    async def _on_denial(self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        try:
            sent = read_submission(body)
            context = DenyContext.decode(sent.metadata)
            button = parse_button(context.action_id, context.value)
        except (Unreadable, ValueError) as exc:
            await self._unreadable_form(ack, "deny", exc)
            return
        await ack()
        self.work.submit(sent.user_id, lambda: self.inbound.denied(sent, context, button))

    async def _on_submission(
        self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]
    ) -> None:
        try:
            sent = read_submission(body)
            context = ModalContext.decode(sent.metadata)
            if context.playbook not in self.service.catalog:
                raise ValueError("it names a playbook I don't have")
        except (Unreadable, ValueError) as exc:
            await self._unreadable_form(ack, "params", exc)
            return
        playbook = self.service.catalog.get(context.playbook)
        params = submitted_params(sent.values)
        errors = field_errors(playbook, params)
        if errors:
            # Shown under each field at once; the modal stays open.
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        self.work.submit(sent.user_id, lambda: self.inbound.submitted(sent, context, params))

    @staticmethod
    async def _unreadable_form(
        ack: Callable[..., Awaitable[None]], kind: str, exc: Unreadable | ValueError
    ) -> None:
        """A form sent back that the bot cannot read: the person who sent it sees why in
        the form itself, and nothing is done."""
        problem = exc.problem if isinstance(exc, Unreadable) else str(exc)
        log.warning("slack_payload_unreadable", kind=f"{kind} form", problem=problem)
        await ack(response_action="update", view=unreadable_form(problem))


def _user_of(body: dict[str, Any]) -> str:
    """Who clicked: interaction payloads carry ``user.id`` (whatever it is, the work reads
    the payload again and says what is wrong with it)."""
    user = body.get("user")
    return str(user.get("id", "")) if isinstance(user, dict) else ""


def _retries() -> list[AsyncRetryHandler]:
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
    ]
