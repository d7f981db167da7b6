"""What a request to ``POST /slack/events`` must pass before bolt or the core sees it.

In this order, each step refusing before the next one looks at the body:

1. **Size** (413): a body over :data:`MAX_BODY_BYTES` is refused from its Content-Length,
   or as soon as more than that has arrived, never read whole. Slack's own payloads stay
   far below it (a message is at most 40,000 characters; our cards and forms are smaller).
2. **Signature** (401): Slack's v0 signature over the raw bytes, compared in constant time,
   with a timestamp within five minutes (:class:`SlackSignature`). Nothing of an unsigned
   body is parsed or logged.
3. **Encoding** (400): UTF-8; a form, or JSON; a ``payload`` field holding a JSON object.
4. **Route and shape**: only what one of our listeners handles goes on (a command of ours,
   a click on one of our buttons, one of our forms sent, a mention; bolt's url_verification
   and ssl_check); anything else Slack may send is answered 404 as bolt would, without
   bolt (:func:`route_of`). For what goes on, the fields bolt itself reads on the way have
   the types Slack gives them (``actions`` a non-empty list of objects with a string
   ``action_id``, ``view`` an object with string ``type`` and ``callback_id``...), else 400.

What passes is routed by bolt to its listener, which acknowledges it. Fields only the work
behind the ack reads are checked there (:mod:`handlers.slack.payloads`), so their author
can be told what was wrong. Refusals carry a short reason for the log, never the body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from bot.http_app import RequestRefused, read_bounded_body

__all__ = [
    "MAX_BODY_BYTES",
    "Listened",
    "Refused",
    "SlackSignature",
    "decode_payload",
    "read_body",
    "route_of",
]

MAX_BODY_BYTES = 512 * 1024
_MAX_TS_DIGITS = 12  # seconds since 1970 need 10 for the next few centuries
_MAX_SIGNATURE_CHARS = 128  # "v0=" and 64 hex digits
_MAX_AGE_SECONDS = 60 * 5  # Slack's replay window


Refused = RequestRefused
"""A request refused before bolt or the core saw it (the bot's own, for every surface)."""


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, within ``limit`` bytes (413 beyond; see :func:`read_bounded_body`)."""
    return await read_bounded_body(request, limit)


class SlackSignature:
    """Slack's v0 request signature: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``
    under the signing secret, over the raw bytes, compared in constant time, with the
    timestamp within five minutes of now.

    slack_sdk's SignatureVerifier implements the same scheme but decodes the body as UTF-8
    first and raises on anything else, which would turn an unsigned non-UTF-8 body into an
    error instead of a 401; this checks the bytes as they came.
    """

    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret.encode()
        self._clock = clock

    def check(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Refuse (401) unless Slack signed ``body`` within the last five minutes."""
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TS_DIGITS:
            raise Refused(401, "missing or malformed X-Slack-Request-Timestamp")
        if not signature.isascii() or not signature or len(signature) > _MAX_SIGNATURE_CHARS:
            raise Refused(401, "missing or malformed X-Slack-Signature")
        if abs(self._clock() - int(timestamp)) > _MAX_AGE_SECONDS:
            raise Refused(401, "stale or future X-Slack-Request-Timestamp")
        mac = hmac.new(self._secret, b"v0:" + timestamp.encode() + b":", hashlib.sha256)
        mac.update(body)  # not concatenated: no copy of a large body
        expected = b"v0=" + mac.hexdigest().encode()
        if not hmac.compare_digest(expected, signature.encode()):
            raise Refused(401, "bad signature")


def decode_payload(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The request as bolt reads it (a form, JSON, or a form whose ``payload`` is JSON),
    refused (400) where bolt would fail to read it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None
    if not text:
        raise Refused(400, "empty body")
    media = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        # The same test as bolt's parse_body, so both read the body alike.
        if media == "application/json" or text.startswith("{"):
            decoded: Any = json.loads(text)
        else:
            form = dict(parse_qsl(text, keep_blank_values=True))
            decoded = json.loads(form["payload"]) if "payload" in text else form
    except (ValueError, KeyError):
        raise Refused(400, "body is neither a form nor JSON Slack would send") from None
    if not isinstance(decoded, dict):
        raise Refused(400, f"payload is a JSON {type(decoded).__name__}, not an object")
    return decoded


@dataclass(frozen=True)
class Listened:
    """What a listener handles: the commands, button prefix and form callback ids."""

    commands: Collection[str]
    action_prefix: str
    callback_ids: Collection[str]
    events: Collection[str] = ("app_mention",)


def route_of(payload: Mapping[str, Any], listened: Listened) -> str | None:
    """The kind of a request one of our listeners (or bolt's own url_verification and
    ssl_check) handles, checked for the fields bolt reads on its way there (400 if one has
    a type Slack never sends); None for anything else Slack may send."""
    _check_common(payload)
    kind = payload.get("type")
    if kind is None:
        if "command" not in payload:
            raise Refused(400, "payload with neither a `type` nor a `command`")
        if not all(isinstance(v, str) for v in payload.values()):
            raise Refused(400, "slash command with a field that is not text")
        return "slash_command" if payload["command"] in listened.commands else None
    match kind:
        case "block_actions":
            actions = payload.get("actions")
            if not isinstance(actions, list) or not actions:
                raise Refused(400, "block_actions without a list of actions")
            for action in actions:
                if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
                    raise Refused(400, "block_actions with an action lacking a string action_id")
                if not isinstance(action.get("block_id", ""), str):
                    raise Refused(400, "block_actions with a non-string block_id")
            if payload.get("view") is not None:
                _check_view(payload["view"], kind)
            first: str = actions[0]["action_id"]
            return kind if first.startswith(listened.action_prefix) else None
        case "view_submission":
            callback_id = _check_view(payload.get("view"), kind)
            return kind if callback_id in listened.callback_ids else None
        case "event_callback":
            event = payload.get("event")
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                raise Refused(400, "event_callback without an event of a string type")
            for name in ("message", "previous_message", "item", "assistant_thread"):
                if not _has(event, name, dict):
                    raise Refused(400, f"`event.{name}` is not an object")
            event_type: str = event["type"]
            return kind if event_type in listened.events else None
        case "url_verification" | "ssl_check":
            return str(kind)
    return None


def _check_view(view: Any, kind: str) -> str:
    """The view's callback_id, once the view is an object with the text fields bolt reads."""
    if not isinstance(view, dict):
        raise Refused(400, f"{kind} whose view is not an object")
    for name in ("type", "callback_id"):
        if not isinstance(view.get(name), str):
            raise Refused(400, f"{kind} whose view has no string `{name}`")
    callback_id: str = view["callback_id"]
    return callback_id


def _check_common(payload: Mapping[str, Any]) -> None:
    """bolt reads who and where from these before any listener: they are objects or ids."""
    if not _has(payload, "type", str):
        raise Refused(400, "`type` is not text")
    if not _has(payload, "event", dict):
        raise Refused(400, "`event` is not an object")
    _check_ids(payload, "")
    event = payload.get("event")
    if isinstance(event, dict):
        _check_ids(event, "event.")
    authorizations = payload.get("authorizations")
    if authorizations is not None:
        if not isinstance(authorizations, list) or not all(
            isinstance(a, dict) for a in authorizations
        ):
            raise Refused(400, "`authorizations` is not a list of objects")
        for authorization in authorizations[:1]:
            _check_ids(authorization, "authorizations[0].")
    urls = payload.get("response_urls")
    if urls is not None and not (isinstance(urls, list) and all(isinstance(u, dict) for u in urls)):
        raise Refused(400, "`response_urls` is not a list of objects")
    for name in ("message", "previous_message", "container", "state"):
        if not _has(payload, name, dict):
            raise Refused(400, f"`{name}` is not an object")


def _check_ids(data: Mapping[str, Any], prefix: str) -> None:
    for name in ("user", "team", "enterprise", "channel"):
        value = data.get(name)
        if value is not None and not isinstance(value, dict | str):
            raise Refused(400, f"`{prefix}{name}` is a {type(value).__name__}")
    for name in ("user_id", "team_id", "enterprise_id", "channel_id", "thread_ts", "bot_id"):
        if not _has(data, name, str):
            raise Refused(400, f"`{prefix}{name}` is not text")


def _has(data: Mapping[str, Any], name: str, kind: type) -> bool:
    """Whether ``name`` is absent, null, or of ``kind`` (what bolt can read)."""
    value = data.get(name)
    return value is None or isinstance(value, kind)
