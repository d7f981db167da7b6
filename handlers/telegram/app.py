"""The Telegram surface: a python-telegram-bot Application feeding the core, and its Chat.

Updates arrive by long polling (the default: one poller per token) or, with
``TELEGRAM_WEBHOOK_URL`` set, at ``POST /telegram/webhook`` on the bot's own HTTP app
(:mod:`handlers.telegram.webhook`), which any number of replicas may serve. Either way they
go through the Application's queue to its one handler (:mod:`handlers.telegram.handler`):
decided without I/O (:mod:`handlers.telegram.updates`), acted on by
:class:`~handlers.telegram.inbound.TelegramInbound`; the core answers through
:class:`~handlers.telegram.output.TelegramChat`.

Calls to Telegram pass PTB's ``AIORateLimiter`` (Telegram's flood limits: about 30
messages a second in all, 20 a minute to one group), which waits out a 429's
``retry_after`` and tries again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

import structlog
from starlette.routing import BaseRoute
from telegram import BotCommand, Update
from telegram.error import BadRequest, Conflict, InvalidToken, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder

from bot.chat import Chat
from bot.db.callback_tokens import CallbackTokens
from bot.service import ChatOpsService
from bot.settings import Settings
from handlers.telegram.handler import ChatOpsHandler, InOrderPerPerson
from handlers.telegram.inbound import ANSWER_WITHIN, TelegramInbound
from handlers.telegram.keys import ButtonKeys
from handlers.telegram.lanes import Lanes
from handlers.telegram.output import TelegramChat, is_transient
from handlers.telegram.updates import SURFACE, Decision, Me, decide
from handlers.telegram.webhook import Refused, webhook_route
from playbooks.errors import ChatOpsError

__all__ = [
    "ALLOWED_UPDATES",
    "BOT_COMMANDS",
    "DEFAULT_API_URL",
    "Limits",
    "TelegramSurface",
    "menu",
]

log = structlog.get_logger(__name__)

DEFAULT_API_URL = "https://api.telegram.org/bot"
ALLOWED_UPDATES = ("message", "callback_query")
BOT_COMMANDS = (
    BotCommand("playbook", "Runbooks: list, help NAME, NAME key=value, status, history, cancel"),
    BotCommand("schedule", "Scheduled jobs: list, run, pause, resume"),
)


def menu(*, has_schedules: bool) -> tuple[BotCommand, ...]:
    """The command menu Telegram shows: ``/schedule`` only where there is something to
    schedule (a bot without schedules would offer a command that only says so)."""
    return tuple(c for c in BOT_COMMANDS if has_schedules or c.command != "schedule")


_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what setWebhook accepts as secret_token
_RECONNECT_MAX = 60.0


@dataclass(frozen=True)
class Limits:
    """How hard the bot may press Telegram, and how long people wait; tests shorten them."""

    messages_per_second: float = 30.0  # to all chats together
    group_messages_per_minute: float = 20.0  # to one group (sends and edits alike)
    retries_after_429: int = 3
    # A chat's card edits and progress replies share the group's ~20 a minute: in any minute
    # at most burst + rate of each, 11 + 8, leaving room for the card and approval requests.
    # (The pacers' own defaults, handlers/telegram/edits.py and progress_posts.py, are these.)
    edit_burst: int = 3  # card edits a chat may take at once...
    edits_per_minute: float = 8.0  # ...and then at this rate, the latest state winning
    post_burst: int = 2  # progress replies a chat may take at once...
    posts_per_minute: float = 6.0  # ...and then at this rate, held lines going together
    answer_within: float = ANSWER_WITHIN
    poll_timeout: int = 10  # long polling: seconds getUpdates may wait
    concurrent_updates: int = 256
    # Connections to the Bot API, each a lane of its own (handlers/telegram/lanes.py): as
    # many as Telegram takes messages at once (AIORateLimiter lets 30 go, then 30 a second),
    # so a burst of cards leaves in one round trip instead of in waves. A call finding every
    # lane busy waits for one rather than fail after PTB's 1 s.
    api_connections: int = 30
    api_connection_wait: float = 30.0  # seconds a call may wait for a free connection


class TelegramSurface:
    """One bot token: its Application, its Chat, and (webhook mode) its route."""

    name = SURFACE

    def __init__(
        self, service: ChatOpsService, settings: Settings, *, limits: Limits | None = None
    ) -> None:
        if settings.telegram_bot_token is None:
            raise ChatOpsError("TELEGRAM_BOT_TOKEN is not set")
        self._token = settings.telegram_bot_token.get_secret_value()
        self._webhook_url = settings.telegram_webhook_url or None
        secret = settings.telegram_webhook_secret
        self._secret = secret.get_secret_value() if secret is not None else None
        if self._webhook_url is not None:
            if self._secret is None:
                raise ChatOpsError("Telegram webhook mode needs TELEGRAM_WEBHOOK_SECRET")
            if not _SECRET.fullmatch(self._secret):
                raise ChatOpsError(
                    "TELEGRAM_WEBHOOK_SECRET must be 1 to 256 characters of A-Z, a-z, 0-9, _ and -"
                )
        self.limits = limits or Limits()
        self.service = service
        self.api_url = settings.telegram_api_url or DEFAULT_API_URL
        self.application = self._build_application()
        # Every replica holds the token, so it keys the buttons alike everywhere.
        keying = hashlib.sha256(b"chatops telegram buttons\n" + self._token.encode()).digest()
        self.tokens = CallbackTokens(service.store.engine, keying, clock=service.deps.clock.now)
        self.keys = ButtonKeys(self.tokens)
        self._chat = TelegramChat(
            self.application.bot,
            self.keys,
            edit_burst=self.limits.edit_burst,
            edits_per_minute=self.limits.edits_per_minute,
            post_burst=self.limits.post_burst,
            posts_per_minute=self.limits.posts_per_minute,
        )
        self.inbound = TelegramInbound(
            service,
            self._chat,
            self.keys,
            self.tokens,
            bot_id=lambda: self.application.bot.id,
            answer_within=self.limits.answer_within,
        )
        self.application.add_handler(ChatOpsHandler(self._decide, self.inbound.act))
        self._allowed = frozenset(service.deps.config.telegram.allowed_chats)
        self._me: Me | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._quiet = _QuietBotApi(self.api_url)

    def _build_application(self) -> Application[Any, Any, Any, Any, Any, Any]:
        limits = self.limits
        builder = (
            ApplicationBuilder()
            .token(self._token)
            .base_url(self.api_url)
            .rate_limiter(
                AIORateLimiter(
                    overall_max_rate=limits.messages_per_second,
                    overall_time_period=1,
                    group_max_rate=limits.group_messages_per_minute,
                    group_time_period=60,
                    max_retries=limits.retries_after_429,
                )
            )
            .concurrent_updates(InOrderPerPerson(limits.concurrent_updates))
            .request(Lanes(limits.api_connections, connection_wait=limits.api_connection_wait))
            .job_queue(None)
        )
        if self._webhook_url is not None:
            builder = builder.updater(None)
        return builder.build()

    @property
    def chat(self) -> Chat:
        return self._chat

    @property
    def webhook(self) -> bool:
        return self._webhook_url is not None

    # -- the Surface steps ----------------------------------------------------------------

    async def open(self) -> None:
        """Ask Telegram who the token is (getMe), set the command menu and, in webhook mode,
        the webhook. A token Telegram refuses stops start-up (ChatOpsError); Telegram
        unreachable is logged, and :meth:`start` keeps trying in the background."""
        logging.getLogger("httpx").addFilter(self._quiet)
        try:
            await self._connect()
        except (TelegramError, TimeoutError, OSError) as exc:
            if not is_transient(exc):
                raise
            log.warning("telegram_unreachable", api=self._shown_url, error=self._shown(exc))

    def routes(self) -> list[BaseRoute]:
        """``POST /telegram/webhook`` in webhook mode; nothing when polling."""
        if self._secret is None or not self.webhook:
            return []
        metrics = self.service.deps.metrics.http_refused
        return [
            webhook_route(
                self._secret,
                self._accept,
                refused=lambda status: metrics.labels(SURFACE, str(status)).inc(),
            )
        ]

    async def start(self) -> None:
        """Start processing updates (and polling for them, unless in webhook mode)."""
        if self._me is not None:
            await self._go()
        else:
            self._connecting = asyncio.create_task(self._reconnect(), name="telegram-connect")

    async def close(self) -> None:
        """Stop taking updates (those already taken are handled), make the card edits still
        waiting, and close the connections."""
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self._chat.close()
        await self.tokens.close()
        await self.application.shutdown()
        logging.getLogger("httpx").removeFilter(self._quiet)

    async def idle(self, *, edits: bool = True) -> None:
        """Wait until every update taken so far is handled and (``edits``) the progress
        replies and card edits waiting for their chat's budget are made."""
        await self.application.update_queue.join()
        if edits:
            await self._chat.progress.idle()
            await self._chat.edits.idle()

    # -- connecting ---------------------------------------------------------------------

    async def _connect(self) -> None:
        try:
            await self.application.initialize()
        except InvalidToken as exc:
            # PTB's own message quotes the token: say what Telegram answered instead.
            said = exc.__cause__ if isinstance(exc.__cause__, TelegramError) else exc
            reason = self._shown(said)
            raise ChatOpsError(f"Telegram refused TELEGRAM_BOT_TOKEN ({reason}).") from None
        bot = self.application.bot
        await bot.set_my_commands(
            list(menu(has_schedules=bool(self.service.deps.config.schedules)))
        )
        if self._webhook_url is not None:
            try:
                await bot.set_webhook(
                    url=self._webhook_url,
                    secret_token=self._secret,
                    allowed_updates=list(ALLOWED_UPDATES),
                )
            except BadRequest as exc:
                raise ChatOpsError(
                    f"Telegram refused TELEGRAM_WEBHOOK_URL ({self._shown(exc)})."
                ) from None
        self._me = Me(bot.id, bot.username)
        log.info("telegram_authorized", bot=bot.username, mode=self._mode)

    async def _go(self) -> None:
        await self.application.start()
        updater = self.application.updater
        if updater is not None:
            await updater.start_polling(
                timeout=self.limits.poll_timeout,
                allowed_updates=list(ALLOWED_UPDATES),
                error_callback=self._polling_failed,
            )
        log.info("telegram_ready", mode=self._mode)

    async def _reconnect(self) -> None:
        """Keep trying to reach Telegram (1 s, 2 s, … up to a minute apart)."""
        wait = 1.0
        while True:
            await asyncio.sleep(wait)
            try:
                await self._connect()
                await self._go()
                return
            except ChatOpsError as exc:
                log.error("telegram_refused_start", reason=exc.reason)
                return
            except (TelegramError, TimeoutError, OSError) as exc:
                log.warning("telegram_unreachable", api=self._shown_url, error=self._shown(exc))
            wait = min(wait * 2, _RECONNECT_MAX)

    # -- updates ------------------------------------------------------------------------

    def _decide(self, update: Update) -> Decision | None:
        if self._me is None:
            return None
        return decide(update, self._me, self._allowed)

    async def _accept(self, data: dict[str, Any]) -> bool:
        if not self.application.running:
            return False
        try:
            update = Update.de_json(data, self.application.bot)
        except Exception as exc:  # PTB reads nested fields whatever their types
            raise Refused(400, f"not an update PTB can read ({type(exc).__name__})") from None
        await self.application.update_queue.put(update)
        return True

    def _polling_failed(self, exc: TelegramError) -> None:
        if isinstance(exc, Conflict):
            log.error(
                "telegram_polling_conflict",
                error=self._shown(exc),
                hint="another process polls with this token: poll from one, or use the webhook",
            )
            return
        log.warning("telegram_polling_failed", error=self._shown(exc))

    # -- helpers ------------------------------------------------------------------------

    @property
    def _mode(self) -> str:
        return "webhook" if self.webhook else "polling"

    @property
    def _shown_url(self) -> str:
        return self.api_url

    def _shown(self, exc: BaseException) -> str:
        """An error as the log and the operator read it, never with the token in it."""
        text = exc.message if isinstance(exc, TelegramError) else (str(exc) or type(exc).__name__)
        return text.replace(self._token, "***")


class _QuietBotApi(logging.Filter):
    """Drops httpx's line per request to the Bot API: one a call (and a poll every few
    seconds), each with the token in its URL."""

    def __init__(self, api_url: str) -> None:
        super().__init__()
        self._api_url = api_url

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno <= logging.INFO
            and record.name == "httpx"
            and self._api_url in record.getMessage()
        )
