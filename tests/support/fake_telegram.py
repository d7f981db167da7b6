"""A local fake of Telegram's Bot API: a real HTTP server on 127.0.0.1, every call recorded.

    with FakeTelegram() as fake:
        fake.add_chat(CHAT, title="incidents", forum=True, topics=[7])
        # the bot runs with TELEGRAM_API_URL=fake.api_url and TELEGRAM_BOT_TOKEN=fake.token
        fake.command("/playbook clear-cache", user=ALICE, chat=CHAT, thread=7)
        [card] = fake.messages(CHAT)

Requests reach ``/bot<token>/<method>`` as python-telegram-bot sends them (a form whose
complex values are JSON, or JSON). It serves ``getUpdates`` from a queue (long polling:
an update pushed while a poll waits is returned at once; an update is gone once a later
poll's ``offset`` confirms it) and answers like Telegram for ``getMe``, ``sendMessage``,
``editMessageText``, ``answerCallbackQuery``, ``setMyCommands``, ``setWebhook`` and
``deleteWebhook``, refusing what Telegram refuses: a wrong token (401), a chat it does not
know, a topic the chat does not have, HTML it cannot parse (unknown or unclosed tags, a
bare ``<`` or ``&``), a text over 4,096 characters once parsed, an empty text,
``callback_data`` over 64 bytes, an edit that changes nothing ("message is not modified"),
an edit of a message it never sent, a callback query answered twice or never asked, an
alert over 200 characters, a webhook URL that is not HTTPS, and ``getUpdates`` while a
webhook is set (409).

Tests can make it refuse more: :meth:`FakeTelegram.fail_next` answers the next calls of a
method with a 429 and ``retry_after`` (or any status); :meth:`FakeTelegram.down` answers
every call with 502 until :meth:`FakeTelegram.up`; :meth:`FakeTelegram.hold` keeps calls
waiting until :meth:`FakeTelegram.release`. :attr:`FakeTelegram.one_way` puts the network
between the bot and Telegram: each call arrives that long after it is sent (its time is
stamped then) and its answer takes as long again (benchmarks; tests keep it at zero).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import unescape
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.local_server import LocalHTTPServer

__all__ = [
    "ALICE",
    "BOB",
    "BOT_ID",
    "BOT_USERNAME",
    "CAROL",
    "MALLORY",
    "FakeMessage",
    "FakeTelegram",
    "FakeUser",
    "TelegramCall",
    "fake_telegram",
    "parse_html",
]

BOT_ID = 5000000000
BOT_USERNAME = "chatops_bot"
TOKEN = "5000000000:AAHfakeTelegramTokenForTests_0123456"
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
MAX_ALERT = 200
_DATE = 1732270000
_HOLD_TIMEOUT = 30.0
_LONGEST_POLL = 1.0  # a poll waits at most this long here, whatever timeout it asks for
# Values PTB sends as JSON text inside a form; every other value is a plain string.
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "reply_parameters",
        "link_preview_options",
        "commands",
        "allowed_updates",
        "entities",
        "scope",
    }
)
_INT_FIELDS = frozenset(
    {"chat_id", "message_id", "message_thread_id", "offset", "limit", "timeout", "cache_time"}
)
_BOOL_FIELDS = frozenset({"show_alert", "drop_pending_updates", "disable_notification"})
_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "code",
        "pre",
        "a",
        "blockquote",
        "tg-spoiler",
        "span",
    }
)
_TAG = re.compile(r"<(/?)([a-z][a-z0-9-]*)((?:\s+[a-z-]+(?:=\"[^\"<>]*\")?)*)\s*>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")


@dataclass(frozen=True)
class FakeUser:
    id: int
    first_name: str
    username: str

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "is_bot": False,
            "first_name": self.first_name,
            "username": self.username,
        }


ALICE = FakeUser(111111111, "Alice", "alice")
BOB = FakeUser(222222222, "Bob", "bob")
CAROL = FakeUser(333333333, "Carol", "carol")
MALLORY = FakeUser(444444444, "Mallory", "mallory")


@dataclass
class TelegramCall:
    """One request: the Bot API method, its arguments, when it arrived (monotonic), and
    whether it was refused (and with what)."""

    method: str
    args: dict[str, Any]
    at: float
    failed: bool = False
    error: str = ""


@dataclass
class FakeMessage:
    """A message in a chat as it stands now: the HTML sent, the text Telegram shows, its
    buttons (label, callback_data), its topic and what it replies to."""

    chat_id: int
    id: int
    html: str
    text: str
    buttons: list[tuple[str, str]] = field(default_factory=list)
    thread: int | None = None
    reply_to: int | None = None
    from_bot: bool = True
    force_reply: bool = False
    edits: int = 0
    sender: FakeUser | None = None

    def json(self, chats: dict[int, dict[str, Any]]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self.id,
            "from": _bot_user() if self.from_bot else (self.sender or ALICE).json(),
            "chat": dict(chats[self.chat_id]),
            "date": _DATE,
            "text": self.text,
        }
        if self.thread is not None:
            message["message_thread_id"] = self.thread
            message["is_topic_message"] = True
        if self.buttons:
            message["reply_markup"] = {
                "inline_keyboard": [[{"text": t, "callback_data": d} for t, d in self.buttons]]
            }
        return message


@dataclass
class _Failure:
    status: int
    retry_after: int
    description: str
    times: int


class _Refusal(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


def _bot_user() -> dict[str, Any]:
    return {"id": BOT_ID, "is_bot": True, "first_name": "chatops", "username": BOT_USERNAME}


class FakeTelegram(LocalHTTPServer):
    """A ThreadingHTTPServer on a free port of 127.0.0.1, served from a daemon thread."""

    thread_name = "fake-telegram"

    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.api_url = ""
        self.calls: list[TelegramCall] = []
        self._counts: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._updates_changed = threading.Condition(self._lock)
        self._chats: dict[int, dict[str, Any]] = {}
        self._topics: dict[int, set[int]] = {}
        self._messages: dict[int, dict[int, FakeMessage]] = {}
        self._ids = itertools.count(1000)
        self._update_ids = itertools.count(900_000_001)
        self._query_ids = itertools.count(1)
        self._updates: list[dict[str, Any]] = []
        self._confirmed = 0  # every update below this id was confirmed by an offset
        self._queries: dict[str, bool] = {}  # callback query id -> answered
        self._failures: dict[str, list[_Failure]] = {}
        self._down: int | None = None
        self._held: dict[str, threading.Event] = {}
        self.one_way = 0.0  # seconds each way between the bot and Telegram
        self.webhook: dict[str, Any] | None = None
        self.commands: list[dict[str, Any]] = []

    # -- what tests arrange ------------------------------------------------------------

    def add_chat(
        self,
        chat_id: int,
        *,
        title: str = "incidents",
        kind: str = "supergroup",
        forum: bool = False,
        topics: tuple[int, ...] = (),
    ) -> None:
        chat: dict[str, Any] = {"id": chat_id, "type": kind}
        if kind == "private":
            chat |= {"first_name": title, "username": title.lower()}
        else:
            chat["title"] = title
        if forum:
            chat["is_forum"] = True
        with self._lock:
            self._chats[chat_id] = chat
            self._topics[chat_id] = set(topics)
            self._messages.setdefault(chat_id, {})

    def push(self, update: dict[str, Any]) -> int:
        """Queue ``update`` for getUpdates (an ``update_id`` is given if it has none)."""
        with self._lock:
            update = dict(update)
            update.setdefault("update_id", next(self._update_ids))
            query = update.get("callback_query")
            if isinstance(query, dict):
                self._queries.setdefault(str(query.get("id")), False)
            self._updates.append(update)
            self._updates_changed.notify_all()
            return int(update["update_id"])

    def command_update(
        self, text: str, *, user: FakeUser = ALICE, chat: int, thread: int | None = None
    ) -> dict[str, Any]:
        """A message update as Telegram sends it for a typed command (and stores it)."""
        with self._lock:
            typed = FakeMessage(
                chat, next(self._ids), text, text, thread=thread, from_bot=False, sender=user
            )
            self._messages.setdefault(chat, {})[typed.id] = typed
            message = typed.json(self._chats)
        message["from"] = user.json()
        word = text.split(" ", 1)[0]
        if word.startswith("/"):
            message["entities"] = [{"offset": 0, "length": len(word), "type": "bot_command"}]
        return {"update_id": next(self._update_ids), "message": message}

    def command(
        self, text: str, *, user: FakeUser = ALICE, chat: int, thread: int | None = None
    ) -> int:
        """Someone types ``text``; returns the update's id."""
        return self.push(self.command_update(text, user=user, chat=chat, thread=thread))

    def find(self, chat: int, label: str, containing: str = "") -> FakeMessage:
        """The newest message of ``chat`` with a button ``label`` and ``containing`` in its text."""
        with self._lock:
            for message in reversed(list(self._messages.get(chat, {}).values())):
                labels = [t for t, _ in message.buttons]
                if label in labels and containing in message.text:
                    return message
        raise AssertionError(f"no {label} button in chat {chat} on a message with {containing!r}")

    def callback_update(self, message: FakeMessage, data: str, *, user: FakeUser) -> dict[str, Any]:
        """The update of ``user`` pressing a button carrying ``data`` on ``message``."""
        with self._lock:
            snapshot = message.json(self._chats)
            query_id = f"{next(self._query_ids):x}4382bfdwd"
            self._queries[query_id] = False  # Telegram waits for its answer from now on
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": query_id,
                "from": user.json(),
                "message": snapshot,
                "chat_instance": "-8200000000000000000",
                "data": data,
            },
        }

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        description: str = "",
        times: int = 1,
    ) -> None:
        """Refuse the next ``times`` calls of ``method`` with ``status`` (a 429 carries
        ``parameters.retry_after``)."""
        text = description or (
            f"Too Many Requests: retry after {retry_after}" if status == 429 else "Bad Gateway"
        )
        with self._lock:
            self._failures.setdefault(method, []).append(_Failure(status, retry_after, text, times))

    def down(self, status: int = 502) -> None:
        """Answer every call with ``status`` until :meth:`up` (Telegram unreachable)."""
        with self._lock:
            self._down = status

    def up(self) -> None:
        with self._lock:
            self._down = None

    def hold(self, *methods: str) -> None:
        """Keep calls of ``methods`` waiting, unanswered, until :meth:`release`."""
        with self._lock:
            for method in methods:
                self._held.setdefault(method, threading.Event())

    def release(self, *methods: str) -> None:
        with self._lock:
            for method in methods or tuple(self._held):
                event = self._held.pop(method, None)
                if event is not None:
                    event.set()

    # -- what tests read ---------------------------------------------------------------

    def of(self, method: str) -> list[TelegramCall]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def count(self, method: str) -> int:
        with self._lock:
            return self._counts[method]

    def messages(self, chat: int) -> list[FakeMessage]:
        """The bot's messages in ``chat``, oldest first, as they stand now."""
        with self._lock:
            return [m for m in self._messages.get(chat, {}).values() if m.from_bot]

    def message(self, chat: int, message_id: int) -> FakeMessage:
        with self._lock:
            return self._messages[chat][message_id]

    def answers(self) -> list[dict[str, Any]]:
        """The answerCallbackQuery calls Telegram accepted, in order."""
        return [call.args for call in self.of("answerCallbackQuery") if not call.failed]

    def confirmed(self, update_id: int) -> bool:
        """Whether a getUpdates offset has confirmed ``update_id`` (the poller has it)."""
        with self._lock:
            return self._confirmed > update_id

    def wait_confirmed(self, update_id: int, timeout: float = 10.0) -> None:
        """Block until the poller has confirmed ``update_id`` (run it in a thread)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._confirmed <= update_id:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"update {update_id} was never fetched")
                self._updates_changed.wait(left)

    # -- lifecycle ---------------------------------------------------------------------

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    def start(self) -> FakeTelegram:
        super().start()
        self.api_url = f"{self.url}/bot"
        return self

    def stop(self) -> None:
        self.release()
        with self._lock:
            self._updates_changed.notify_all()
        super().stop()

    # -- the Bot API (handler threads) -------------------------------------------------

    def _call(self, token: str, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        one_way = self.one_way
        if one_way:
            time.sleep(one_way)  # on its way here...
        try:
            return self._arrived(token, method, args)
        finally:
            if one_way:
                time.sleep(one_way)  # ...and its answer on its way back

    def _arrived(self, token: str, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        call = TelegramCall(method, args, time.monotonic())
        with self._lock:
            self.calls.append(call)
            self._counts[method] += 1
            event = self._held.get(method)
        if event is not None:
            event.wait(_HOLD_TIMEOUT)
        try:
            result = self._answer(token, method, args)
        except _Refusal as refusal:
            call.failed, call.error = True, refusal.description
            body: dict[str, Any] = {
                "ok": False,
                "error_code": refusal.status,
                "description": refusal.description,
            }
            if refusal.retry_after is not None:
                body["parameters"] = {"retry_after": refusal.retry_after}
            return refusal.status, body
        return 200, {"ok": True, "result": result}

    def _answer(self, token: str, method: str, args: dict[str, Any]) -> Any:
        with self._lock:
            if self._down is not None:
                raise _Refusal(self._down, "Bad Gateway")
            if token != self.token:
                raise _Refusal(401, "Unauthorized")
            failures = self._failures.get(method)
            if failures:
                failure = failures[0]
                failure.times -= 1
                if not failure.times:
                    failures.pop(0)
                retry = failure.retry_after if failure.status == 429 else None
                raise _Refusal(failure.status, failure.description, retry)
        if method == "getUpdates":
            return self._get_updates(args)
        with self._lock:
            match method:
                case "getMe":
                    return _bot_user() | {"can_join_groups": True, "supports_inline_queries": False}
                case "sendMessage":
                    return self._send(args)
                case "editMessageText":
                    return self._edit(args)
                case "answerCallbackQuery":
                    return self._answer_query(args)
                case "setMyCommands":
                    self.commands = list(args.get("commands") or [])
                    return True
                case "setWebhook":
                    return self._set_webhook(args)
                case "deleteWebhook":
                    self.webhook = None
                    return True
                case "getWebhookInfo":
                    return {"url": (self.webhook or {}).get("url", ""), "pending_update_count": 0}
            raise _Refusal(404, "Not Found: method not found")

    def _get_updates(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(args.get("offset") or 0)
        timeout = min(float(args.get("timeout") or 0), _LONGEST_POLL)
        deadline = time.monotonic() + timeout
        with self._lock:
            if self.webhook is not None:
                raise _Refusal(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            if offset:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                if offset > self._confirmed:
                    self._confirmed = offset
                    self._updates_changed.notify_all()
            while not self._updates:
                left = deadline - time.monotonic()
                if left <= 0 or self._server is None:
                    return []
                self._updates_changed.wait(left)
            return [dict(u) for u in self._updates]

    def _chat(self, args: dict[str, Any]) -> int:
        chat = args.get("chat_id")
        if not isinstance(chat, int) or chat not in self._chats:
            raise _Refusal(400, "Bad Request: chat not found")
        return chat

    def _send(self, args: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(args)
        thread = args.get("message_thread_id")
        if thread is not None and thread not in self._topics[chat]:
            raise _Refusal(400, "Bad Request: message thread not found")
        html, text = self._text(args)
        buttons = _buttons(args.get("reply_markup"))
        reply_to = (args.get("reply_parameters") or {}).get("message_id")
        if reply_to is not None and reply_to not in self._messages[chat]:
            if not (args.get("reply_parameters") or {}).get("allow_sending_without_reply"):
                raise _Refusal(400, "Bad Request: message to be replied not found")
            reply_to = None
        markup = args.get("reply_markup")
        force = isinstance(markup, dict) and bool(markup.get("force_reply"))
        message = FakeMessage(
            chat, next(self._ids), html, text, buttons, thread, reply_to, force_reply=force
        )
        self._messages[chat][message.id] = message
        return message.json(self._chats)

    def _edit(self, args: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(args)
        message = self._messages[chat].get(args.get("message_id"))  # type: ignore[arg-type]
        if message is None or not message.from_bot:
            raise _Refusal(400, "Bad Request: message to edit not found")
        html, text = self._text(args)
        # Without a reply_markup, the message's inline keyboard goes.
        buttons = _buttons(args.get("reply_markup"))
        if text == message.text and html == message.html and buttons == message.buttons:
            raise _Refusal(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup of "
                "the message",
            )
        message.html, message.text, message.buttons = html, text, buttons
        message.edits += 1
        return message.json(self._chats)

    def _answer_query(self, args: dict[str, Any]) -> bool:
        query = str(args.get("callback_query_id", ""))
        if self._queries.get(query, True):  # never asked, or answered already
            raise _Refusal(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        if len(str(args.get("text") or "")) > MAX_ALERT:
            raise _Refusal(400, "Bad Request: MESSAGE_TOO_LONG")
        self._queries[query] = True
        return True

    def _set_webhook(self, args: dict[str, Any]) -> bool:
        url = str(args.get("url") or "")
        if not url:
            self.webhook = None
            return True
        if not url.startswith("https://"):
            raise _Refusal(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = args.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _Refusal(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = dict(args)
        return True

    @staticmethod
    def _text(args: dict[str, Any]) -> tuple[str, str]:
        html = str(args.get("text") or "")
        if args.get("parse_mode") == "HTML":
            text, problem = parse_html(html)
            if problem:
                raise _Refusal(400, f"Bad Request: can't parse entities: {problem}")
        else:
            text = html
        if not text.strip():
            raise _Refusal(400, "Bad Request: message text is empty")
        if _utf16(text) > MAX_TEXT:
            raise _Refusal(400, "Bad Request: message is too long")
        return html, text


def parse_html(html: str) -> tuple[str, str | None]:
    """The text Telegram shows for ``html`` (parse_mode HTML), or why it refuses it."""
    shown: list[str] = []
    open_tags: list[str] = []
    at = 0
    while at < len(html):
        char = html[at]
        if char == "<":
            tag = _TAG.match(html, at)
            if tag is None:
                return "", f"Unsupported start tag at byte offset {at}"
            closing, name = tag.group(1), tag.group(2)
            if name not in _TAGS:
                return "", f'Unsupported start tag "{name}" at byte offset {at}'
            if closing:
                if not open_tags or open_tags[-1] != name:
                    return "", f"Unexpected end tag at byte offset {at}"
                open_tags.pop()
            else:
                if name == "a" and 'href="' not in tag.group(3):
                    return "", f"Can't find href of the link at byte offset {at}"
                open_tags.append(name)
            at = tag.end()
        elif char == "&":
            entity = _ENTITY.match(html, at)
            if entity is None:
                return "", f"Character '&' is reserved and must be escaped at byte offset {at}"
            shown.append(unescape(entity.group()))
            at = entity.end()
        else:
            shown.append(char)
            at += 1
    if open_tags:
        return "", f'Can\'t find end tag corresponding to start tag "{open_tags[-1]}"'
    return "".join(shown), None


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _buttons(markup: Any) -> list[tuple[str, str]]:
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return []
    found: list[tuple[str, str]] = []
    for row in markup["inline_keyboard"]:
        for button in row:
            data = str(button.get("callback_data", ""))
            if not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                raise _Refusal(400, "Bad Request: BUTTON_DATA_INVALID")
            if not button.get("text"):
                raise _Refusal(
                    400, "Bad Request: text buttons are unallowed in the inline keyboard"
                )
            found.append((str(button["text"]), data))
    return found


def _decode(args: dict[str, Any]) -> dict[str, Any]:
    """A form's values as PTB meant them: JSON where it sends JSON, numbers, booleans."""
    decoded: dict[str, Any] = {}
    for key, value in args.items():
        if isinstance(value, str) and key in _JSON_FIELDS:
            try:
                decoded[key] = json.loads(value)
                continue
            except ValueError:
                pass
        if isinstance(value, str) and key in _INT_FIELDS and re.fullmatch(r"-?[0-9]+", value):
            decoded[key] = int(value)
            continue
        if isinstance(value, str) and key in _BOOL_FIELDS:
            decoded[key] = value.lower() == "true"
            continue
        decoded[key] = value
    return decoded


def _handler_for(fake: FakeTelegram) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            match = re.fullmatch(r"/bot([^/]*)/([A-Za-z]+)", parts.path)
            if match is None:
                self._send(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            args: dict[str, Any] = {
                k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()
            }
            content_type = self.headers.get("Content-Type", "")
            if body and "json" in content_type:
                args.update(json.loads(body))
            elif body:
                args.update(
                    {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
                )
            status, answer = fake._call(match.group(1), match.group(2), _decode(args))
            self._send(status, answer)

        def _send(self, status: int, answer: dict[str, Any]) -> None:
            payload = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    """A started :class:`FakeTelegram`, stopped after the test."""
    with FakeTelegram() as fake:
        yield fake
