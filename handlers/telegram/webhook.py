"""``POST /telegram/webhook``: what an update must pass before the bot reads it.

In this order, each step refusing before the next one looks at the body:

1. **Secret** (403): ``X-Telegram-Bot-Api-Secret-Token`` equals ``TELEGRAM_WEBHOOK_SECRET``
   (given to Telegram with setWebhook), compared in constant time. Nothing of a request
   without it is read or logged.
2. **Size** (413): a body over :data:`MAX_BODY_BYTES` is refused from its Content-Length,
   or as soon as more than that has arrived, never read whole. Telegram's updates are far
   smaller (a message is at most 4,096 characters).
3. **Shape** (400): UTF-8 JSON holding an object with an integer ``update_id`` that PTB can
   read as an :class:`telegram.Update`.

What passes is queued for the bot's Application and answered 200 at once; 503 while the
bot is still connecting to Telegram (Telegram sends it again later). Refusals carry a
short reason for the log, never the body.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.http_app import RequestRefused, read_bounded_body

__all__ = ["MAX_BODY_BYTES", "PATH", "SECRET_HEADER", "Refused", "webhook_route"]

PATH = "/telegram/webhook"
SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 (a header's name)
MAX_BODY_BYTES = 256 * 1024
_TEXT = {400: "malformed update", 403: "forbidden", 413: "update too large"}

log = structlog.get_logger(__name__)


Refused = RequestRefused
"""An update answered with ``status`` unread (the bot's own refusal, for every surface)."""


Accept = Callable[[dict[str, Any]], Awaitable[bool]]
"""Queues a decoded update; False when the bot is not ready for it yet; Refused (400) when
it cannot be read as an update."""


def webhook_route(
    secret: str, accept: Accept, refused: Callable[[int], None] = lambda _status: None
) -> Route:
    """The route; ``refused`` is told the status of each refusal (metrics)."""
    expected = secret.encode()

    async def webhook(request: Request) -> Response:
        try:
            given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
            if not hmac.compare_digest(given, expected):
                raise Refused(403, "missing or wrong secret token")
            update = decode(await read_body(request))
            ready = await accept(update)
        except Refused as exc:
            refused(exc.status)
            level = log.warning if exc.status == 400 else log.info
            level("telegram_webhook_refused", status=exc.status, reason=exc.reason)
            return PlainTextResponse(_TEXT[exc.status], exc.status)
        if not ready:
            return PlainTextResponse("not ready", 503)
        return Response(status_code=200)

    return Route(PATH, webhook, methods=["POST"])


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, within ``limit`` bytes (413 beyond; see :func:`read_bounded_body`)."""
    return await read_bounded_body(request, limit)


def decode(body: bytes) -> dict[str, Any]:
    """The update as a JSON object with an integer ``update_id``, or a 400."""
    try:
        data: Any = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Refused(400, "body is not UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, f"update is a JSON {type(data).__name__}, not an object")
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise Refused(400, "update without an integer update_id")
    return data
