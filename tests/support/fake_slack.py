"""A local fake of Slack's Web API: a real HTTP server on 127.0.0.1, every call recorded.

    with FakeSlack() as fake:
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        await client.chat_postMessage(channel="C1", text="hi", blocks=[...])
        assert fake.messages("C1")[0]["text"] == "hi"

It answers like Slack for the methods the bot uses (chat.postMessage, chat.update,
chat.postEphemeral, views.open, usergroups.users.list, auth.test, apps.connections.open;
anything else is ``{"ok": true}``) and refuses what Slack refuses: blocks that break Block
Kit's limits (``invalid_blocks``), blocks holding more than 12,000 characters of text in all
(``msg_blocks_too_long``), a message without a channel (``channel_not_found``) or with
nothing in it (``no_text``), an edit of a message it never saw (``message_not_found``) and
a modal Slack would not open (``invalid_arguments``). ``POST /response/<id>`` stands in for
an interaction's ``response_url``: its bodies are checked the same way, and refused with
HTTP 400 and the error as the body, as Slack does.

Tests can make it slow: :meth:`FakeSlack.hold` keeps calls of a method waiting (recorded
as they arrive) until :meth:`FakeSlack.release`, so a test can tell what happened before
Slack answered without measuring time.

Requests are accepted as JSON, as a form (values that look like JSON — ``blocks`` — are
decoded) or as a query string, which covers everything ``slack_sdk`` sends.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.local_server import LocalHTTPServer

__all__ = ["MAX_TOTAL_TEXT", "FakeSlack", "SlackCall", "blocks_problem", "fake_slack"]

BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
TEAM_ID = "T0001"

_TS_BASE = 1732270000  # seconds; message ts are this plus 100 µs per message
_MESSAGE_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral")
MAX_TOTAL_TEXT = 12_000  # all the text in one message's blocks (msg_blocks_too_long)
_HOLD_TIMEOUT = 30.0  # a held call is answered anyway after this long


@dataclass
class SlackCall:
    """One request: ``method`` is the Web API method (or "response_url"); header names are
    lower-cased; ``failed`` marks calls answered with an error (by :meth:`FakeSlack.fail_next`,
    or because Slack would refuse them).
    """

    method: str
    args: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    failed: bool = False
    answer: dict[str, Any] | None = None  # what the fake answered (views.open: the view id)

    @property
    def token(self) -> str | None:
        """The token the caller sent: ``Authorization: Bearer …`` or a ``token`` argument."""
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:]
        token = self.args.get("token")
        return str(token) if token is not None else None


@dataclass
class _Failure:
    status: int
    retry_after: int
    error: str
    times: int


@dataclass
class _Reply:
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlack(LocalHTTPServer):
    """A ThreadingHTTPServer on a free port of 127.0.0.1, served from a daemon thread."""

    thread_name = "fake-slack"

    def __init__(self) -> None:
        super().__init__()
        self.api_url = ""
        self.calls: list[SlackCall] = []
        self._counts: Counter[str] = Counter()  # calls per method, for count()
        self.responses: list[SlackCall] = []
        self._lock = threading.RLock()
        self._failures: dict[str, list[_Failure]] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._answers: dict[str, dict[str, Any]] = {
            "apps.connections.open": {"ok": False, "error": "not_allowed"},
        }
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        self._held: dict[str, threading.Event] = {}

    # -- what tests read ---------------------------------------------------------------

    def count(self, method: str) -> int:
        """How many calls of ``method`` arrived (failed ones included), without copying any:
        a benchmark polls this while thousands of calls come in."""
        with self._lock:
            return self._counts[method]

    def of(self, method: str) -> list[SlackCall]:
        """The recorded calls of one Web API method, in order (failed ones included)."""
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Each message posted in ``channel`` as it stands now (after chat.update edits):
        ``{"ts", "text", "blocks", "thread_ts"}``, in posting order, thread replies included.
        """
        with self._lock:
            return [dict(message) for message in self._messages.get(channel, [])]

    def response_url(self, key: str | int = 1) -> str:
        """A ``response_url`` served by this fake (posts land in :attr:`responses`)."""
        return f"{self.url}/response/{key}"

    # -- what tests arrange ------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        error: str = "ratelimited",
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP ``status`` and
        ``{"ok": false, "error": error}`` (plus ``Retry-After`` on a 429)."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._failures.setdefault(method, []).append(
                _Failure(status, retry_after, error, times)
            )

    def recover(self, method: str) -> None:
        """Answer ``method`` normally again, whatever failures were still queued for it."""
        with self._lock:
            self._failures.pop(method, None)

    def set_usergroup(self, group_id: str, users: list[str]) -> None:
        """Members that ``usergroups.users.list`` returns for ``group_id``."""
        with self._lock:
            self._usergroups[group_id] = list(users)

    def set_answer(self, method: str, body: dict[str, Any]) -> None:
        """Answer every later call of ``method`` with ``body`` (HTTP 200) instead of the
        built-in answer, e.g. ``set_answer("apps.connections.open", {"ok": True, "url": …})``.
        """
        with self._lock:
            self._answers[method] = dict(body)

    def hold(self, *methods: str) -> None:
        """Keep calls of ``methods`` waiting, unanswered, until :meth:`release`.

        Calls are recorded (in :attr:`calls`) as they arrive. ``"response_url"`` holds
        response_url posts.
        """
        with self._lock:
            for method in methods:
                self._held.setdefault(method, threading.Event())

    def release(self, *methods: str) -> None:
        """Answer the held calls of ``methods`` (of every held method when none is named)."""
        with self._lock:
            for method in methods or tuple(self._held):
                event = self._held.pop(method, None)
                if event is not None:
                    event.set()

    # -- lifecycle ---------------------------------------------------------------------

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    def start(self) -> FakeSlack:
        super().start()
        self.api_url = f"{self.url}/api/"
        return self

    def stop(self) -> None:
        self.release()
        super().stop()

    # -- used by the handler thread ----------------------------------------------------

    def _wait_if_held(self, method: str) -> None:
        with self._lock:
            event = self._held.get(method)
        if event is not None:
            event.wait(_HOLD_TIMEOUT)

    def _web_api(self, method: str, args: dict[str, Any], headers: dict[str, str]) -> _Reply:
        with self._lock:
            call = SlackCall(method, args, headers)
            self.calls.append(call)
            self._counts[method] += 1
        self._wait_if_held(method)
        with self._lock:
            failure = self._take_failure(method)
            if failure is not None:
                call.failed = True
                extra = {"Retry-After": str(failure.retry_after)} if failure.status == 429 else {}
                return _Reply(failure.status, {"ok": False, "error": failure.error}, extra)
            answer = self._answer(method, args)
            call.failed = not answer.get("ok")
            call.answer = answer
            return _Reply(200, answer)

    def _response_url(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> _Reply:
        call = SlackCall("response_url", {**body, "path": path}, headers)
        with self._lock:
            self.responses.append(call)
        self._wait_if_held("response_url")
        problem = _content_problem(body)
        if problem is not None:
            call.failed = True
            return _Reply(400, problem[0])
        return _Reply(200, "ok")

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times == 0:
            queue.pop(0)
        return failure

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method in self._answers:
            return dict(self._answers[method])
        if method in _MESSAGE_METHODS:
            problem = _message_problem(args)
            if problem is not None:
                return {"ok": False, "error": problem[0], "errors": [problem[1]]}
        if method == "chat.postMessage":
            return self._post_message(args)
        if method == "chat.update":
            return self._update(args)
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "views.open":
            view = args.get("view")
            view = dict(view) if isinstance(view, dict) else {}
            problem = _view_problem(view)
            if problem is not None:
                return {
                    "ok": False,
                    "error": "invalid_arguments",
                    "response_metadata": {"messages": [f"[ERROR] {problem}"]},
                }
            view_id = f"V{next(self._views):010d}"
            return {"ok": True, "view": {**view, "id": view_id, "team_id": TEAM_ID}}
        if method == "usergroups.users.list":
            group = str(args.get("usergroup", ""))
            if group not in self._usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": list(self._usergroups[group])}
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://fake.slack.com/",
                "team": "Fake",
                "user": "chatops",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
            }
        return {"ok": True}

    def _next_ts(self) -> str:
        micros = _TS_BASE * 1_000_000 + 100 * next(self._ts)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args["channel"])
        ts = self._next_ts()
        thread_ts = args.get("thread_ts") or None
        message = {
            "ts": ts,
            "text": args.get("text", ""),
            "blocks": args.get("blocks") or [],
            "thread_ts": str(thread_ts) if thread_ts else None,
        }
        self._messages.setdefault(channel, []).append(message)
        reply = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "ts": ts,
            "text": message["text"],
            "blocks": message["blocks"],
        }
        if message["thread_ts"]:
            reply["thread_ts"] = message["thread_ts"]
        return {"ok": True, "channel": channel, "ts": ts, "message": reply}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args["channel"])
        ts = str(args.get("ts", ""))
        for message in self._messages.get(channel, []):
            if message["ts"] == ts:
                if "text" in args:
                    message["text"] = args["text"]
                if "blocks" in args:
                    message["blocks"] = args["blocks"] or []
                return {"ok": True, "channel": channel, "ts": ts, "text": message["text"]}
        return {"ok": False, "error": "message_not_found"}


# -- Slack-like validation ------------------------------------------------------------------


def blocks_problem(blocks: Any) -> tuple[str, str] | None:
    """(error, detail) if Slack would refuse a message with these ``blocks``, else None."""
    problem = _blocks_problem(blocks)
    if problem is not None:
        return "invalid_blocks", problem
    total = _text_total(blocks)
    if total > MAX_TOTAL_TEXT:
        return "msg_blocks_too_long", f"{total} characters of text in the blocks"
    return None


def _message_problem(args: dict[str, Any]) -> tuple[str, str] | None:
    """(error, detail) for a Web API message Slack would refuse, or None."""
    if not args.get("channel"):
        return "channel_not_found", "no channel"
    return _content_problem(args)


def _content_problem(args: dict[str, Any]) -> tuple[str, str] | None:
    if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
        return "no_text", "no text, blocks or attachments"
    if "blocks" in args:
        return blocks_problem(args["blocks"])
    return None


def _text(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def _text_total(node: Any) -> int:
    """Every ``text`` string in the blocks, counted together."""
    if isinstance(node, list):
        return sum(_text_total(item) for item in node)
    if not isinstance(node, dict):
        return 0
    return sum(
        len(value) if key == "text" and isinstance(value, str) else _text_total(value)
        for key, value in node.items()
    )


def _view_problem(view: dict[str, Any]) -> str | None:
    """Why views.open would refuse ``view`` (the limits slack_sdk also knows), or None."""
    if view.get("type") != "modal":
        return "view type must be modal"
    for key, limit in (("title", 24), ("submit", 24), ("close", 24)):
        if key in view and not 0 < len(_text(view[key])) <= limit:
            return f"{key} must be 1 to {limit} characters"
    if len(str(view.get("private_metadata") or "")) > 3000:
        return "private_metadata over 3000 characters"
    blocks = view.get("blocks") or []
    if len(blocks) > 100:
        return "more than 100 blocks"
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or block.get("type") != "input":
            continue
        if not 0 < len(_text(block.get("label"))) <= 2000:
            return f"block {i}: label empty or over 2000 characters"
        if "hint" in block and len(_text(block["hint"])) > 2000:
            return f"block {i}: hint over 2000 characters"
        element = block.get("element") or {}
        options = element.get("options")
        if options is None:
            continue
        if not 0 < len(options) <= 100:
            return f"block {i}: a select needs 1 to 100 options"
        for option in options:
            if not 0 < len(_text(option.get("text"))) <= 75:
                return f"block {i}: option text empty or over 75 characters"
            if not 0 < len(str(option.get("value", ""))) <= 150:
                return f"block {i}: option value empty or over 150 characters"
    return None


def _blocks_problem(blocks: Any) -> str | None:
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        return "blocks must be a JSON array"
    if len(blocks) > 50:
        return f"{len(blocks)} blocks: no more than 50 items allowed"
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"block {i}"
        if not isinstance(block, dict) or "type" not in block:
            return f"{where}: not a block"
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in block_ids:
                return f"{where}: duplicate block_id {block_id!r}"
            block_ids.add(block_id)
        kind = block["type"]
        if kind == "section":
            text, fields = block.get("text"), block.get("fields")
            if text is None and not fields:
                return f"{where}: a section needs text or fields"
            if text is not None and not _text(text):
                return f"{where}: section text must not be empty"
            if len(_text(text)) > 3000:
                return f"{where}: section text over 3000 characters"
            if fields is not None:
                if len(fields) > 10:
                    return f"{where}: more than 10 fields"
                for f in fields:
                    if not _text(f) or len(_text(f)) > 2000:
                        return f"{where}: a field is empty or over 2000 characters"
        elif kind == "header":
            text = _text(block.get("text"))
            if not text or len(text) > 150:
                return f"{where}: header text empty or over 150 characters"
        elif kind == "context":
            elements = block.get("elements") or []
            if not elements or len(elements) > 10:
                return f"{where}: a context block needs 1 to 10 elements"
            texts = [_text(e) for e in elements if e.get("type") in ("mrkdwn", "plain_text")]
            if any(not text or len(text) > 3000 for text in texts):
                return f"{where}: a context text is empty or over 3000 characters"
        elif kind == "actions":
            elements = block.get("elements") or []
            if not elements or len(elements) > 25:
                return f"{where}: an actions block needs 1 to 25 elements"
            action_ids = [e.get("action_id") for e in elements if isinstance(e, dict)]
            if len(set(action_ids)) != len(action_ids):
                return f"{where}: duplicate action_id"
            for element in elements:
                label = _text(element.get("text")) if isinstance(element, dict) else ""
                if not label or len(label) > 75:
                    return f"{where}: a button label is empty or over 75 characters"
    return None


# -- HTTP -----------------------------------------------------------------------------------


def _looks_like_json(value: str) -> bool:
    return value[:1] in ("[", "{")


def _decode_form(pairs: dict[str, list[str]]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for key, values in pairs.items():
        value = values[-1]
        if _looks_like_json(value):
            try:
                args[key] = json.loads(value)
                continue
            except ValueError:
                pass
        args[key] = value
    return args


def _handler_for(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in one segment: written separately, Nagle's algorithm and
        # the client's delayed ACK hold every answer back by ~40 ms.
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            headers = {name.lower(): value for name, value in self.headers.items()}
            body = self._read_body()
            if parts.path.startswith("/api/"):
                args = _decode_form(parse_qs(parts.query, keep_blank_values=True))
                try:
                    args.update(self._parse_body(headers.get("content-type", ""), body))
                except ValueError as error:
                    self._send(_Reply(200, {"ok": False, "error": "invalid_json"}), str(error))
                    return
                method = parts.path.removeprefix("/api/")
                self._send(fake._web_api(method, args, headers))
            elif parts.path.startswith("/response/") and self.command == "POST":
                try:
                    payload = json.loads(body or b"{}")
                except ValueError:
                    payload = {"raw": body.decode("utf-8", "replace")}
                if not isinstance(payload, dict):
                    payload = {"raw": payload}
                self._send(fake._response_url(parts.path, payload, headers))
            else:
                self._send(_Reply(404, {"ok": False, "error": "unknown_method"}))

        @staticmethod
        def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
            if not body:
                return {}
            if "json" in content_type:
                parsed = json.loads(body)
                if not isinstance(parsed, dict):
                    raise ValueError("a JSON body must be an object")
                return parsed
            if "multipart/form-data" in content_type:
                return {}  # file uploads: recorded by method name only
            text = body.decode("utf-8")
            return _decode_form(parse_qs(text, keep_blank_values=True))

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, reply: _Reply, note: str = "") -> None:
            if isinstance(reply.body, str):
                payload = reply.body.encode()
                content_type = "text/plain; charset=utf-8"
            else:
                body = dict(reply.body)
                if note:
                    body["warning"] = note
                payload = json.dumps(body).encode()
                content_type = "application/json; charset=utf-8"
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
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
def fake_slack() -> Iterator[FakeSlack]:
    """A started :class:`FakeSlack`, stopped after the test."""
    with FakeSlack() as fake:
        yield fake
